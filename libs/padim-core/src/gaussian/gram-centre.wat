;; Centring kernel of the Gram path (gram-group.ts); assembled into gram-centre-wasm.ts by
;; ../wasm/build-wasm-kernels.mjs (regenerate after editing this file).
;;
;; `mergeBands` adds a block's banded Gram product (`gram`, as the GEMM wrote it) and the shift of the
;; means (`delta`) to the block's packed co-moments (`comoment`, copied in and out by the caller); see
;; its own comment.
;;
;; `centre` takes positions [p0, p0+pb) of a group of B samples, each [d][P] f32 as onnxruntime emits
;; them, and writes what one batched GEMM needs: `centred` [pb][d][Bs] f32 (Bs = B rounded up to four),
;; each position's samples minus their group mean. Columns B..Bs-1 are not written (the caller keeps
;; them zero, so they add nothing to the products). The group's sums, f64 over b in order 0..B-1, are
;; kept by `sumSamples` as the samples arrive; `centre` multiplies them by 1/B into `mean64` [pb][d]
;; f64 (for the merge) and `mean32` [d][pb] f32, and centres each sample as x − f32(mean) in f32, as
;; the scalar twin does, so both give identical bytes.
;;
;; The transposition runs four samples × four positions at a time: four vector loads (one per sample,
;; four positions of one channel), a 4×4 shuffle transpose, four vector stores (one per position, four
;; samples). Channels are the outer loop, so each sample's cache line of a channel is used by four
;; consecutive position quads, and each position's row of Bs floats is written whole before the next.
;; Positions past the last quad and samples past the last quad are done one at a time.
;;
;; All offsets are byte addresses into the exported memory; in address order (the TypeScript side sizes
;; each region and takes its offsets from this block):
;; @layout group
;; @region centred align=16 slack=0 out
;; @region sums align=16 slack=0 inout
;; @region mean32 align=16 slack=0 scratch
;; @region mean64 align=16 slack=0 out
;; @region gram align=16 slack=0 in
;; @region delta align=16 slack=0 in
;; @region comoment align=16 slack=0 inout
;; @region bands align=16 slack=0 in
;; @region x align=16 slack=0 in
;; @const QUAD 4        samples and positions per transposed tile
(module
  (memory (export "memory") 1)

;; sums [d][P] f64 (+)= the samples [first, first+count) of x, one f64 per value, added in the order of
;; the samples; with first = 0 the sums start from zero. Called as each batch of samples arrives, so
;; the group's means cost one streaming pass over samples still in cache, instead of a pass by runs of
;; one channel across every sample of the group when it is centred.
  (func (export "sumSamples")
    (param $xOff i32) (param $first i32) (param $count i32) (param $n i32) (param $sumOff i32)
    (local $i i32) (local $n4 i32) (local $b i32) (local $stride i32) (local $src i32) (local $at i32) (local $dst i32)
    (local $v v128) (local $s0 v128) (local $s1 v128) (local $s f64)
    (local.set $stride (i32.shl (local.get $n) (i32.const 2)))
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (local.set $src (i32.add (local.get $xOff) (i32.mul (local.get $first) (local.get $stride))))
    (local.set $dst (local.get $sumOff))
    (local.set $i (i32.const 0))
    (block $iDone (loop $iLoop
      (br_if $iDone (i32.ge_u (local.get $i) (local.get $n4)))
      (if (i32.eqz (local.get $first))
        (then
          (local.set $s0 (f64x2.splat (f64.const 0)))
          (local.set $s1 (f64x2.splat (f64.const 0))))
        (else
          (local.set $s0 (v128.load (local.get $dst)))
          (local.set $s1 (v128.load offset=16 (local.get $dst)))))
      (local.set $at (local.get $src))
      (local.set $b (i32.const 0))
      (block $bDone (loop $bLoop
        (br_if $bDone (i32.ge_u (local.get $b) (local.get $count)))
        (local.set $v (v128.load (local.get $at)))
        (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $v))))
        (local.set $s1 (f64x2.add (local.get $s1)
          (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))))
        (local.set $at (i32.add (local.get $at) (local.get $stride)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bLoop)))
      (v128.store (local.get $dst) (local.get $s0))
      (v128.store offset=16 (local.get $dst) (local.get $s1))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $iLoop)))
    ;; the last n mod 4 values, one at a time
    (block $tDone (loop $tLoop
      (br_if $tDone (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $s (select (f64.const 0) (f64.load (local.get $dst)) (i32.eqz (local.get $first))))
      (local.set $at (local.get $src))
      (local.set $b (i32.const 0))
      (block $btDone (loop $btLoop
        (br_if $btDone (i32.ge_u (local.get $b) (local.get $count)))
        (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $at)))))
        (local.set $at (i32.add (local.get $at) (local.get $stride)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $btLoop)))
      (f64.store (local.get $dst) (local.get $s))
      (local.set $src (i32.add (local.get $src) (i32.const 4)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $tLoop)))
  )

;; Means of positions [p0, p0+pb) from the group's sums [d][P] f64: mean64 [pb][d] f64 and mean32 [d][pb] f32.
  (func $means
    (param $p0 i32) (param $pb i32) (param $P i32) (param $d i32) (param $invB f64)
    (param $sumOff i32) (param $mean32Off i32) (param $mean64Off i32)
    (local $c i32) (local $p i32) (local $src i32) (local $m f64)
    (local.set $c (i32.const 0))
    (block $cDone (loop $cLoop
      (br_if $cDone (i32.ge_u (local.get $c) (local.get $d)))
      (local.set $p (i32.const 0))
      (block $pDone (loop $pLoop
        (br_if $pDone (i32.ge_u (local.get $p) (local.get $pb)))
        (local.set $src (i32.add (i32.mul (local.get $c) (local.get $P)) (i32.add (local.get $p0) (local.get $p))))
        (local.set $m (f64.mul (f64.load (i32.add (local.get $sumOff) (i32.shl (local.get $src) (i32.const 3)))) (local.get $invB)))
        (f32.store (i32.add (local.get $mean32Off) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $pb)) (local.get $p)) (i32.const 2)))
          (f32.demote_f64 (local.get $m)))
        (f64.store (i32.add (local.get $mean64Off) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $d)) (local.get $c)) (i32.const 3))) (local.get $m))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $pLoop)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cLoop)))
  )

;; centred [pb][d][Bs] f32 for positions [p0, p0+pb); see the header.
  (func (export "centre")
    (param $p0 i32) (param $pb i32) (param $P i32) (param $d i32) (param $B i32) (param $invB f64)
    (param $xOff i32) (param $sumOff i32) (param $mean32Off i32) (param $mean64Off i32) (param $cOff i32)
    (local $c i32) (local $p i32) (local $b i32) (local $k i32) (local $pb4 i32) (local $B4 i32) (local $Bs i32)
    (local $rowStride i32) (local $sampleStride i32) (local $src i32) (local $dst i32) (local $mv v128) (local $mu f32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (call $means (local.get $p0) (local.get $pb) (local.get $P) (local.get $d) (local.get $invB)
      (local.get $sumOff) (local.get $mean32Off) (local.get $mean64Off))
    (local.set $pb4 (i32.and (local.get $pb) (i32.const -4)))
    (local.set $B4 (i32.and (local.get $B) (i32.const -4)))
    (local.set $Bs (i32.and (i32.add (local.get $B) (i32.const 3)) (i32.const -4)))
    ;; bytes between positions in centred, and between samples in x
    (local.set $rowStride (i32.shl (i32.mul (local.get $d) (local.get $Bs)) (i32.const 2)))
    (local.set $sampleStride (i32.shl (i32.mul (local.get $d) (local.get $P)) (i32.const 2)))
    (local.set $c (i32.const 0))
    (block $cDone (loop $cLoop
      (br_if $cDone (i32.ge_u (local.get $c) (local.get $d)))
      (local.set $p (i32.const 0))
      (block $pDone (loop $pLoop
        (br_if $pDone (i32.ge_u (local.get $p) (local.get $pb4)))
        (local.set $mv (v128.load (i32.add (local.get $mean32Off) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $pb)) (local.get $p)) (i32.const 2)))))
        (local.set $src (i32.add (local.get $xOff) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $P)) (i32.add (local.get $p0) (local.get $p))) (i32.const 2))))
        (local.set $dst (i32.add (local.get $cOff) (i32.shl (i32.mul (i32.add (i32.mul (local.get $p) (local.get $d)) (local.get $c)) (local.get $Bs)) (i32.const 2))))
        (local.set $b (i32.const 0))
        (block $bDone (loop $bLoop
          (br_if $bDone (i32.ge_u (local.get $b) (local.get $B4)))
          (local.set $r0 (f32x4.sub (v128.load (local.get $src)) (local.get $mv)))
          (local.set $r1 (f32x4.sub (v128.load (i32.add (local.get $src) (local.get $sampleStride))) (local.get $mv)))
          (local.set $r2 (f32x4.sub (v128.load (i32.add (local.get $src) (i32.shl (local.get $sampleStride) (i32.const 1)))) (local.get $mv)))
          (local.set $r3 (f32x4.sub (v128.load (i32.add (local.get $src) (i32.mul (local.get $sampleStride) (i32.const 3)))) (local.get $mv)))
          (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
          (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
          (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
          (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
          (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
          (v128.store (i32.add (local.get $dst) (local.get $rowStride)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
          (v128.store (i32.add (local.get $dst) (i32.shl (local.get $rowStride) (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
          (v128.store (i32.add (local.get $dst) (i32.mul (local.get $rowStride) (i32.const 3))) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
          (local.set $src (i32.add (local.get $src) (i32.shl (local.get $sampleStride) (i32.const 2))))
          (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
          (local.set $b (i32.add (local.get $b) (i32.const 4)))
          (br $bLoop)))
        ;; the last B mod 4 samples, one position at a time
        (block $btDone (loop $btLoop
          (br_if $btDone (i32.ge_u (local.get $b) (local.get $B)))
          (local.set $k (i32.const 0))
          (block $kDone (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $k) (i32.const 4)))
            (f32.store (i32.add (local.get $dst) (i32.mul (local.get $k) (local.get $rowStride)))
              (f32.sub (f32.load (i32.add (local.get $src) (i32.shl (local.get $k) (i32.const 2))))
                (f32.load (i32.add (local.get $mean32Off) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $pb)) (i32.add (local.get $p) (local.get $k))) (i32.const 2))))))
            (local.set $k (i32.add (local.get $k) (i32.const 1)))
            (br $kLoop)))
          (local.set $src (i32.add (local.get $src) (local.get $sampleStride)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (br $btLoop)))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $pLoop)))
      ;; the last pb mod 4 positions, scalar
      (block $ptDone (loop $ptLoop
        (br_if $ptDone (i32.ge_u (local.get $p) (local.get $pb)))
        (local.set $mu (f32.load (i32.add (local.get $mean32Off) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $pb)) (local.get $p)) (i32.const 2)))))
        (local.set $src (i32.add (local.get $xOff) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $P)) (i32.add (local.get $p0) (local.get $p))) (i32.const 2))))
        (local.set $dst (i32.add (local.get $cOff) (i32.shl (i32.mul (i32.add (i32.mul (local.get $p) (local.get $d)) (local.get $c)) (local.get $Bs)) (i32.const 2))))
        (local.set $b (i32.const 0))
        (block $b2Done (loop $b2Loop
          (br_if $b2Done (i32.ge_u (local.get $b) (local.get $B)))
          (f32.store (local.get $dst) (f32.sub (f32.load (local.get $src)) (local.get $mu)))
          (local.set $src (i32.add (local.get $src) (local.get $sampleStride)))
          (local.set $dst (i32.add (local.get $dst) (i32.const 4)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (br $b2Loop)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ptLoop)))
      (local.set $c (i32.add (local.get $c) (i32.const 1)))
      (br $cLoop)))
  )
;; comoment [pb][d(d+1)/2] f64 (packed upper triangles) += G + f·δδᵀ for a block of pb positions, where
;; G comes by row bands: `bands` holds nBands + 1 i32 band starts (0 … d), and band b of `gram` is
;; [pb][rows_b][d − start_b] f32, bands one after the other; δ is `delta` [pb][d] f64. Each entry is
;; m + (f64(g) + (δ_i·f)·δ_j), the same operations in the same order as the scalar merge, so both give
;; identical bytes; two entries of a row at a time.
  (func (export "mergeBands")
    (param $pb i32) (param $d i32) (param $nBands i32) (param $bandsOff i32) (param $gOff i32) (param $mOff i32) (param $deltaOff i32) (param $f f64)
    (local $pp i32) (local $band i32) (local $first i32) (local $last i32) (local $rows i32) (local $width i32) (local $bandAt i32)
    (local $i i32) (local $j i32) (local $jPairs i32) (local $k i32) (local $row i32) (local $dRow i32) (local $di f64) (local $div v128)
    (local.set $k (local.get $mOff))
    (local.set $jPairs (i32.sub (local.get $d) (i32.const 1)))
    (local.set $pp (i32.const 0))
    (block $ppDone (loop $ppLoop
      (br_if $ppDone (i32.ge_u (local.get $pp) (local.get $pb)))
      (local.set $dRow (i32.add (local.get $deltaOff) (i32.shl (i32.mul (local.get $pp) (local.get $d)) (i32.const 3))))
      ;; bandAt: where band b starts in gram, in floats
      (local.set $bandAt (i32.const 0))
      (local.set $band (i32.const 0))
      (block $bandDone (loop $bandLoop
        (br_if $bandDone (i32.ge_u (local.get $band) (local.get $nBands)))
        (local.set $first (i32.load (i32.add (local.get $bandsOff) (i32.shl (local.get $band) (i32.const 2)))))
        (local.set $last (i32.load offset=4 (i32.add (local.get $bandsOff) (i32.shl (local.get $band) (i32.const 2)))))
        (local.set $rows (i32.sub (local.get $last) (local.get $first)))
        (local.set $width (i32.sub (local.get $d) (local.get $first)))
        (local.set $i (local.get $first))
        (block $iDone (loop $iLoop
          (br_if $iDone (i32.ge_u (local.get $i) (local.get $last)))
          (local.set $di (f64.mul (f64.load (i32.add (local.get $dRow) (i32.shl (local.get $i) (i32.const 3)))) (local.get $f)))
          (local.set $div (f64x2.splat (local.get $di)))
          ;; row: the byte address of row i's column 0, so that column j is at row + 4j
          (local.set $row (i32.add (local.get $gOff)
            (i32.shl (i32.sub (i32.add (local.get $bandAt)
              (i32.mul (i32.add (i32.mul (local.get $pp) (local.get $rows)) (i32.sub (local.get $i) (local.get $first))) (local.get $width)))
              (local.get $first)) (i32.const 2))))
          (local.set $j (local.get $i))
          (block $jDone (loop $jLoop
            (br_if $jDone (i32.ge_s (local.get $j) (local.get $jPairs)))
            (v128.store (local.get $k)
              (f64x2.add (v128.load (local.get $k))
                (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
                  (f64x2.mul (local.get $div) (v128.load (i32.add (local.get $dRow) (i32.shl (local.get $j) (i32.const 3))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 2)))
            (br $jLoop)))
          ;; the row's last entry when an odd number are left
          (if (i32.lt_u (local.get $j) (local.get $d)) (then
            (f64.store (local.get $k) (f64.add (f64.load (local.get $k))
              (f64.add (f64.promote_f32 (f32.load (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2)))))
                (f64.mul (local.get $di) (f64.load (i32.add (local.get $dRow) (i32.shl (local.get $j) (i32.const 3))))))))
            (local.set $k (i32.add (local.get $k) (i32.const 8)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $iLoop)))
        (local.set $bandAt (i32.add (local.get $bandAt) (i32.mul (i32.mul (local.get $pb) (local.get $rows)) (local.get $width))))
        (local.set $band (i32.add (local.get $band) (i32.const 1)))
        (br $bandLoop)))
      (local.set $pp (i32.add (local.get $pp) (i32.const 1)))
      (br $ppLoop)))
  )
)
