;; Co-moment merge kernel for accumulate-embeddings.ts; assembled into comoment-kernel-wasm.ts by
;; ../wasm/build-wasm-kernels.mjs (regenerate after editing this file).
;;
;; For each of `np` positions it applies M += Xᵀ X + f·δδᵀ to the packed upper triangle M (T = d(d+1)/2
;; f64 per position), where X is the centred batch, B rows of d f64 ([B][d], so a row of X is
;; contiguous over channels) and δ is d f64. All offsets are byte addresses into the exported memory.
;;
;; Rows are taken two at a time (i, i+1); columns eight at a time as four f64x2 lanes, so per sample
;; two splatted loads and four vector loads feed sixteen multiply-adds. Each lane sums over b in
;; order 0..B-1 and adds the correction as m + (s + (δi·f)·δj), the same operation order as the
;; scalar JS kernel, so both give identical results.
;;
;; Memory, in address order (the TypeScript side sizes each region and takes its offsets from this
;; block): the co-moments M, the samples X, δ and the running means.
;; @layout views
;; @region m align=8 slack=0 inout
;; @region x align=8 slack=0 inout
;; @region e align=8 slack=0 inout
;; @region mean align=8 slack=0 inout
(module
  (memory (export "memory") 1)

;; Centres `np` positions of X ([B][d] each) on their batch mean, in place, and per channel sets
;; δ = batch mean − running mean and running mean += δ·wb. Sums run over b in order 0..B-1 as in the
;; scalar JS, two channels per f64x2 lane pair.
  (func (export "centre")
    (param $np i32) (param $d i32) (param $B i32) (param $invB f64) (param $wb f64)
    (param $xOff i32) (param $eOff i32) (param $meanOff i32)
    (local $p i32) (local $c i32) (local $b i32) (local $stride i32) (local $xc i32)
    (local $s v128) (local $bm v128) (local $dl v128) (local $vInvB v128) (local $vWb v128)
    (local $s1 f64) (local $bm1 f64) (local $dl1 f64)
    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (local.set $vInvB (f64x2.splat (local.get $invB)))
    (local.set $vWb (f64x2.splat (local.get $wb)))
    (local.set $p (i32.const 0))
    (block $positionsDone (loop $positions
      (br_if $positionsDone (i32.ge_u (local.get $p) (local.get $np)))
      (local.set $c (i32.const 0))
      (block $channelsDone (loop $channels
        (br_if $channelsDone (i32.gt_u (i32.add (local.get $c) (i32.const 2)) (local.get $d)))
        (local.set $s (v128.const f64x2 0 0))
        (local.set $xc (i32.add (local.get $xOff) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $sum
          (local.set $s (f64x2.add (local.get $s) (v128.load (local.get $xc))))
          (local.set $xc (i32.add (local.get $xc) (local.get $stride)))
          (br_if $sum (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $bm (f64x2.mul (local.get $s) (local.get $vInvB)))
        (local.set $xc (i32.add (local.get $xOff) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $sub
          (v128.store (local.get $xc) (f64x2.sub (v128.load (local.get $xc)) (local.get $bm)))
          (local.set $xc (i32.add (local.get $xc) (local.get $stride)))
          (br_if $sub (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $xc (i32.shl (local.get $c) (i32.const 3)))
        (local.set $dl (f64x2.sub (local.get $bm) (v128.load (i32.add (local.get $meanOff) (local.get $xc)))))
        (v128.store (i32.add (local.get $eOff) (local.get $xc)) (local.get $dl))
        (v128.store (i32.add (local.get $meanOff) (local.get $xc))
          (f64x2.add (v128.load (i32.add (local.get $meanOff) (local.get $xc)))
            (f64x2.mul (local.get $dl) (local.get $vWb))))
        (local.set $c (i32.add (local.get $c) (i32.const 2)))
        (br $channels)))
      ;; Odd d: the last channel alone.
      (if (i32.lt_u (local.get $c) (local.get $d)) (then
        (local.set $s1 (f64.const 0))
        (local.set $xc (i32.add (local.get $xOff) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $sum1
          (local.set $s1 (f64.add (local.get $s1) (f64.load (local.get $xc))))
          (local.set $xc (i32.add (local.get $xc) (local.get $stride)))
          (br_if $sum1 (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $bm1 (f64.mul (local.get $s1) (local.get $invB)))
        (local.set $xc (i32.add (local.get $xOff) (i32.shl (local.get $c) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $sub1
          (f64.store (local.get $xc) (f64.sub (f64.load (local.get $xc)) (local.get $bm1)))
          (local.set $xc (i32.add (local.get $xc) (local.get $stride)))
          (br_if $sub1 (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $xc (i32.shl (local.get $c) (i32.const 3)))
        (local.set $dl1 (f64.sub (local.get $bm1) (f64.load (i32.add (local.get $meanOff) (local.get $xc)))))
        (f64.store (i32.add (local.get $eOff) (local.get $xc)) (local.get $dl1))
        (f64.store (i32.add (local.get $meanOff) (local.get $xc))
          (f64.add (f64.load (i32.add (local.get $meanOff) (local.get $xc)))
            (f64.mul (local.get $dl1) (local.get $wb))))))
      (local.set $xOff (i32.add (local.get $xOff) (i32.mul (local.get $stride) (local.get $B))))
      (local.set $eOff (i32.add (local.get $eOff) (local.get $stride)))
      (local.set $meanOff (i32.add (local.get $meanOff) (local.get $stride)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $positions))))

  (func (export "comoment")
    (param $np i32) (param $d i32) (param $B i32) (param $f f64)
    (param $mOff i32) (param $xOff i32) (param $eOff i32)
    (local $p i32) (local $i i32) (local $j i32) (local $b i32)
    (local $stride i32)              ;; bytes between samples: d*8
    (local $rowA i32) (local $rowB i32) ;; &M[i][i], &M[i+1][i+1]
    (local $pa i32) (local $pb i32)  ;; &M[i][j], &M[i+1][j]
    (local $xa i32) (local $xj i32)  ;; &X[b][i], &X[b][j]
    (local $ea f64) (local $eb f64)
    (local $da v128) (local $db v128)
    (local $va v128) (local $vb v128)
    (local $y0 v128) (local $y1 v128) (local $y2 v128) (local $y3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $s f64)

    (local.set $stride (i32.shl (local.get $d) (i32.const 3)))
    (local.set $rowA (local.get $mOff))
    (local.set $p (i32.const 0))
    (block $positionsDone (loop $positions
      (br_if $positionsDone (i32.ge_u (local.get $p) (local.get $np)))

      (local.set $i (i32.const 0))
      (block $rowsDone (loop $rows
        (br_if $rowsDone (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $d)))
        ;; Row i holds d-i entries, so row i+1 starts d-i slots later.
        (local.set $rowB (i32.add (local.get $rowA)
          (i32.shl (i32.sub (local.get $d) (local.get $i)) (i32.const 3))))
        (local.set $ea (f64.load (i32.add (local.get $eOff) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $eb (f64.load offset=8 (i32.add (local.get $eOff) (i32.shl (local.get $i) (i32.const 3)))))
        (local.set $da (f64x2.splat (f64.mul (local.get $ea) (local.get $f))))
        (local.set $db (f64x2.splat (f64.mul (local.get $eb) (local.get $f))))

        ;; Diagonal 2x2 block, columns (i, i+1): row i keeps both lanes, row i+1 only lane 1.
        (local.set $a0 (v128.const f64x2 0 0))
        (local.set $b0 (v128.const f64x2 0 0))
        (local.set $xa (i32.add (local.get $xOff) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $diag
          (local.set $y0 (v128.load (local.get $xa)))
          (local.set $a0 (f64x2.add (local.get $a0)
            (f64x2.mul (v128.load64_splat (local.get $xa)) (local.get $y0))))
          (local.set $b0 (f64x2.add (local.get $b0)
            (f64x2.mul (v128.load64_splat offset=8 (local.get $xa)) (local.get $y0))))
          (local.set $xa (i32.add (local.get $xa) (local.get $stride)))
          (br_if $diag (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $y0 (v128.load (i32.add (local.get $eOff) (i32.shl (local.get $i) (i32.const 3)))))
        (v128.store (local.get $rowA) (f64x2.add (v128.load (local.get $rowA))
          (f64x2.add (local.get $a0) (f64x2.mul (local.get $da) (local.get $y0)))))
        (f64.store (local.get $rowB) (f64.add (f64.load (local.get $rowB))
          (f64.add (f64x2.extract_lane 1 (local.get $b0)) (f64.mul (f64x2.extract_lane 0 (local.get $db)) (local.get $eb)))))

        (local.set $j (i32.add (local.get $i) (i32.const 2)))
        (local.set $pa (i32.add (local.get $rowA) (i32.const 16)))
        (local.set $pb (i32.add (local.get $rowB) (i32.const 8)))

        ;; 2x8 tiles.
        (block $tiles8Done (loop $tiles8
          (br_if $tiles8Done (i32.gt_u (i32.add (local.get $j) (i32.const 8)) (local.get $d)))
          (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0))
          (local.set $a2 (v128.const f64x2 0 0)) (local.set $a3 (v128.const f64x2 0 0))
          (local.set $b0 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0))
          (local.set $b2 (v128.const f64x2 0 0)) (local.set $b3 (v128.const f64x2 0 0))
          (local.set $xa (i32.add (local.get $xOff) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $xj (i32.add (local.get $xOff) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $b (i32.const 0))
          (loop $samples
            (local.set $va (v128.load64_splat (local.get $xa)))
            (local.set $vb (v128.load64_splat offset=8 (local.get $xa)))
            (local.set $y0 (v128.load (local.get $xj)))
            (local.set $y1 (v128.load offset=16 (local.get $xj)))
            (local.set $y2 (v128.load offset=32 (local.get $xj)))
            (local.set $y3 (v128.load offset=48 (local.get $xj)))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $va) (local.get $y0))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $va) (local.get $y1))))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $va) (local.get $y2))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $va) (local.get $y3))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $vb) (local.get $y0))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $vb) (local.get $y1))))
            (local.set $b2 (f64x2.add (local.get $b2) (f64x2.mul (local.get $vb) (local.get $y2))))
            (local.set $b3 (f64x2.add (local.get $b3) (f64x2.mul (local.get $vb) (local.get $y3))))
            (local.set $xa (i32.add (local.get $xa) (local.get $stride)))
            (local.set $xj (i32.add (local.get $xj) (local.get $stride)))
            (br_if $samples (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
          ;; M += S + (δi·f)·δj, δj read from the same columns.
          (local.set $xj (i32.add (local.get $eOff) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $y0 (v128.load (local.get $xj)))
          (local.set $y1 (v128.load offset=16 (local.get $xj)))
          (local.set $y2 (v128.load offset=32 (local.get $xj)))
          (local.set $y3 (v128.load offset=48 (local.get $xj)))
          (v128.store (local.get $pa) (f64x2.add (v128.load (local.get $pa))
            (f64x2.add (local.get $a0) (f64x2.mul (local.get $da) (local.get $y0)))))
          (v128.store offset=16 (local.get $pa) (f64x2.add (v128.load offset=16 (local.get $pa))
            (f64x2.add (local.get $a1) (f64x2.mul (local.get $da) (local.get $y1)))))
          (v128.store offset=32 (local.get $pa) (f64x2.add (v128.load offset=32 (local.get $pa))
            (f64x2.add (local.get $a2) (f64x2.mul (local.get $da) (local.get $y2)))))
          (v128.store offset=48 (local.get $pa) (f64x2.add (v128.load offset=48 (local.get $pa))
            (f64x2.add (local.get $a3) (f64x2.mul (local.get $da) (local.get $y3)))))
          (v128.store (local.get $pb) (f64x2.add (v128.load (local.get $pb))
            (f64x2.add (local.get $b0) (f64x2.mul (local.get $db) (local.get $y0)))))
          (v128.store offset=16 (local.get $pb) (f64x2.add (v128.load offset=16 (local.get $pb))
            (f64x2.add (local.get $b1) (f64x2.mul (local.get $db) (local.get $y1)))))
          (v128.store offset=32 (local.get $pb) (f64x2.add (v128.load offset=32 (local.get $pb))
            (f64x2.add (local.get $b2) (f64x2.mul (local.get $db) (local.get $y2)))))
          (v128.store offset=48 (local.get $pb) (f64x2.add (v128.load offset=48 (local.get $pb))
            (f64x2.add (local.get $b3) (f64x2.mul (local.get $db) (local.get $y3)))))
          (local.set $j (i32.add (local.get $j) (i32.const 8)))
          (local.set $pa (i32.add (local.get $pa) (i32.const 64)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 64)))
          (br $tiles8)))

        ;; 2x2 tiles for the remaining columns.
        (block $tiles2Done (loop $tiles2
          (br_if $tiles2Done (i32.gt_u (i32.add (local.get $j) (i32.const 2)) (local.get $d)))
          (local.set $a0 (v128.const f64x2 0 0))
          (local.set $b0 (v128.const f64x2 0 0))
          (local.set $xa (i32.add (local.get $xOff) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $xj (i32.add (local.get $xOff) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $b (i32.const 0))
          (loop $samples2
            (local.set $y0 (v128.load (local.get $xj)))
            (local.set $a0 (f64x2.add (local.get $a0)
              (f64x2.mul (v128.load64_splat (local.get $xa)) (local.get $y0))))
            (local.set $b0 (f64x2.add (local.get $b0)
              (f64x2.mul (v128.load64_splat offset=8 (local.get $xa)) (local.get $y0))))
            (local.set $xa (i32.add (local.get $xa) (local.get $stride)))
            (local.set $xj (i32.add (local.get $xj) (local.get $stride)))
            (br_if $samples2 (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
          (local.set $y0 (v128.load (i32.add (local.get $eOff) (i32.shl (local.get $j) (i32.const 3)))))
          (v128.store (local.get $pa) (f64x2.add (v128.load (local.get $pa))
            (f64x2.add (local.get $a0) (f64x2.mul (local.get $da) (local.get $y0)))))
          (v128.store (local.get $pb) (f64x2.add (v128.load (local.get $pb))
            (f64x2.add (local.get $b0) (f64x2.mul (local.get $db) (local.get $y0)))))
          (local.set $j (i32.add (local.get $j) (i32.const 2)))
          (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
          (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
          (br $tiles2)))

        ;; One column left when d is odd.
        (if (i32.lt_u (local.get $j) (local.get $d)) (then
          (local.set $a0 (v128.const f64x2 0 0))
          (local.set $xa (i32.add (local.get $xOff) (i32.shl (local.get $i) (i32.const 3))))
          (local.set $xj (i32.add (local.get $xOff) (i32.shl (local.get $j) (i32.const 3))))
          (local.set $b (i32.const 0))
          (loop $samples1
            ;; Lanes (x[b][i], x[b][i+1]) · x[b][j].
            (local.set $a0 (f64x2.add (local.get $a0)
              (f64x2.mul (v128.load (local.get $xa)) (v128.load64_splat (local.get $xj)))))
            (local.set $xa (i32.add (local.get $xa) (local.get $stride)))
            (local.set $xj (i32.add (local.get $xj) (local.get $stride)))
            (br_if $samples1 (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
          (local.set $s (f64.load (i32.add (local.get $eOff) (i32.shl (local.get $j) (i32.const 3)))))
          (f64.store (local.get $pa) (f64.add (f64.load (local.get $pa))
            (f64.add (f64x2.extract_lane 0 (local.get $a0))
              (f64.mul (f64x2.extract_lane 0 (local.get $da)) (local.get $s)))))
          (f64.store (local.get $pb) (f64.add (f64.load (local.get $pb))
            (f64.add (f64x2.extract_lane 1 (local.get $a0))
              (f64.mul (f64x2.extract_lane 0 (local.get $db)) (local.get $s)))))))

        ;; Row i+2 starts d-i-1 slots after row i+1.
        (local.set $rowA (i32.add (local.get $rowB)
          (i32.shl (i32.sub (i32.sub (local.get $d) (local.get $i)) (i32.const 1)) (i32.const 3))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rows)))

      ;; Odd d: the last row holds only its diagonal entry.
      (if (i32.lt_u (local.get $i) (local.get $d)) (then
        (local.set $s (f64.const 0))
        (local.set $xa (i32.add (local.get $xOff) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $b (i32.const 0))
        (loop $last
          (local.set $ea (f64.load (local.get $xa)))
          (local.set $s (f64.add (local.get $s) (f64.mul (local.get $ea) (local.get $ea))))
          (local.set $xa (i32.add (local.get $xa) (local.get $stride)))
          (br_if $last (i32.lt_u (local.tee $b (i32.add (local.get $b) (i32.const 1))) (local.get $B))))
        (local.set $ea (f64.load (i32.add (local.get $eOff) (i32.shl (local.get $i) (i32.const 3)))))
        (f64.store (local.get $rowA) (f64.add (f64.load (local.get $rowA))
          (f64.add (local.get $s) (f64.mul (f64.mul (local.get $ea) (local.get $f)) (local.get $ea)))))
        (local.set $rowA (i32.add (local.get $rowA) (i32.const 8)))))

      (local.set $xOff (i32.add (local.get $xOff) (i32.mul (local.get $stride) (local.get $B))))
      (local.set $eOff (i32.add (local.get $eOff) (local.get $stride)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $positions)))))
