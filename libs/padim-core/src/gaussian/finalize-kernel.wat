;; Finalisation kernel of one position (finalize-gaussian.ts); assembled into finalize-kernel-wasm.ts by
;; ../wasm/build-wasm-kernels.mjs (regenerate after editing this file).
;;
;; `finalize` turns a position's packed co-moments M (upper triangle, row-major, T = d(d+1)/2 f64) into
;; the packed lower L⁻¹ (row-major, T f64), where Σ = M·scale + reg·I = L·Lᵀ. It runs the operations of
;; the scalar choleskyInPlace and invertLowerTriangular (../linalg) in the same order for every entry,
;; so both give the same bits: each entry's sum runs over k in increasing order, as a multiply then a
;; subtract (no fused multiply-add), and the divisions and the square root are the same ones.
;;
;; What changes is the loop order, which lets two adjacent entries go in one f64x2 lane pair:
;; - The Cholesky factor is built column by column (left-looking) in column-major storage, so the
;;   update of column j by an earlier column k is an axpy over contiguous rows. Columns go four at a
;;   time: their rows, four at a time, take the updates from every earlier column in a 4×4 tile held in
;;   registers across k (one load of each entry and one store, where an axpy per k loads and stores it
;;   each time); then the four columns finish one by one.
;; - The inverse X = L⁻¹ is built row by row in row-major storage, as the scalar code does: row i takes
;;   X[i] -= L[i][k]·X[k] for k < i, over contiguous columns, four rows at a time in the same 4×4 tiles.
;; Both matrices have a leading dimension ld = d rounded up to a multiple of four, so every lane pair
;; is aligned and every tile whole. Lanes past the triangle read entries that are zero (or finite values
;; above a diagonal, which the result never reads): x − c·0 leaves x as it is, so they change nothing.
;;
;; Returns -1, or the first row i whose pivot is not > 0 (its value is left at chol[i][i] for the error
;; message), or d + i where the inverse meets a diagonal entry i that is zero or not finite.
;;
;; All offsets are byte addresses into the exported memory; in address order:
;; @layout position
;; @region packed align=16 slack=0 in
;; @region chol align=16 slack=0 scratch
;; @region inverse align=16 slack=0 scratch
;; @region factors align=16 slack=0 out
;; @const BLOCK 4      columns (and rows) that share each pass over the earlier ones; ld is a multiple of it
(module
  (memory (export "memory") 1)

;; chol (column-major, ld) ← Σ's lower triangle: column i is row i of the packed upper triangle times
;; scale, reg added to the diagonal; rows above the diagonal and the padding row are zero.
  (func $fill
    (param $d i32) (param $ld i32) (param $scale f64) (param $reg f64) (param $src i32) (param $cholOff i32)
    (local $i i32) (local $col i32) (local $dst i32) (local $end i32)
    (local.set $i (i32.const 0))
    (block $iDone (loop $iLoop
      (br_if $iDone (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $col (i32.add (local.get $cholOff) (i32.shl (i32.mul (local.get $i) (local.get $ld)) (i32.const 3))))
      (memory.fill (local.get $col) (i32.const 0) (i32.shl (local.get $i) (i32.const 3)))
      (local.set $dst (i32.add (local.get $col) (i32.shl (local.get $i) (i32.const 3))))
      (local.set $end (i32.add (local.get $col) (i32.shl (local.get $d) (i32.const 3))))
      (block $rDone (loop $rLoop
        (br_if $rDone (i32.ge_u (local.get $dst) (local.get $end)))
        (f64.store (local.get $dst) (f64.mul (f64.load (local.get $src)) (local.get $scale)))
        (local.set $src (i32.add (local.get $src) (i32.const 8)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 8)))
        (br $rLoop)))
      (memory.fill (local.get $end) (i32.const 0) (i32.shl (i32.sub (local.get $ld) (local.get $d)) (i32.const 3)))
      (local.set $dst (i32.add (local.get $col) (i32.shl (local.get $i) (i32.const 3))))
      (f64.store (local.get $dst) (f64.add (f64.load (local.get $dst)) (local.get $reg)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $iLoop)))
  )

;; col[row] -= c·x[row] for the lane pairs from byte `from` (even row) to the column's end `bytes`.
  (func $axpy (param $dst i32) (param $src i32) (param $bytes i32) (param $c f64)
    (local $cv v128) (local $end i32)
    (local.set $cv (f64x2.splat (local.get $c)))
    (local.set $end (i32.add (local.get $src) (local.get $bytes)))
    (block $done (loop $pairs
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (v128.store (local.get $dst) (f64x2.sub (v128.load (local.get $dst)) (f64x2.mul (local.get $cv) (v128.load (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 16)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $pairs)))
  )

;; A 4×4 tile held in registers: dst_q[0..3] -= Σ_k c_q(k)·src_k[0..3] for q < 4, k < n, in order of k.
;; dst_q at dst + q·dstStride; src_k at src + k·srcStride; c_q(k) at c + k·cStride + 8q.
  (func $tile (param $dst i32) (param $dstStride i32) (param $src i32) (param $srcStride i32) (param $c i32) (param $cStride i32) (param $n i32)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128) (local $a2 v128) (local $b2 v128) (local $a3 v128) (local $b3 v128)
    (local $xa v128) (local $xb v128) (local $cv v128) (local $d1 i32) (local $d2 i32) (local $d3 i32)
    (local.set $d1 (i32.add (local.get $dst) (local.get $dstStride)))
    (local.set $d2 (i32.add (local.get $d1) (local.get $dstStride)))
    (local.set $d3 (i32.add (local.get $d2) (local.get $dstStride)))
    (local.set $a0 (v128.load (local.get $dst)))
    (local.set $b0 (v128.load offset=16 (local.get $dst)))
    (local.set $a1 (v128.load (local.get $d1)))
    (local.set $b1 (v128.load offset=16 (local.get $d1)))
    (local.set $a2 (v128.load (local.get $d2)))
    (local.set $b2 (v128.load offset=16 (local.get $d2)))
    (local.set $a3 (v128.load (local.get $d3)))
    (local.set $b3 (v128.load offset=16 (local.get $d3)))
    (block $done (loop $k
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $xa (v128.load (local.get $src)))
      (local.set $xb (v128.load offset=16 (local.get $src)))
      (local.set $cv (v128.load64_splat (local.get $c)))
      (local.set $a0 (f64x2.sub (local.get $a0) (f64x2.mul (local.get $cv) (local.get $xa))))
      (local.set $b0 (f64x2.sub (local.get $b0) (f64x2.mul (local.get $cv) (local.get $xb))))
      (local.set $cv (v128.load64_splat offset=8 (local.get $c)))
      (local.set $a1 (f64x2.sub (local.get $a1) (f64x2.mul (local.get $cv) (local.get $xa))))
      (local.set $b1 (f64x2.sub (local.get $b1) (f64x2.mul (local.get $cv) (local.get $xb))))
      (local.set $cv (v128.load64_splat offset=16 (local.get $c)))
      (local.set $a2 (f64x2.sub (local.get $a2) (f64x2.mul (local.get $cv) (local.get $xa))))
      (local.set $b2 (f64x2.sub (local.get $b2) (f64x2.mul (local.get $cv) (local.get $xb))))
      (local.set $cv (v128.load64_splat offset=24 (local.get $c)))
      (local.set $a3 (f64x2.sub (local.get $a3) (f64x2.mul (local.get $cv) (local.get $xa))))
      (local.set $b3 (f64x2.sub (local.get $b3) (f64x2.mul (local.get $cv) (local.get $xb))))
      (local.set $src (i32.add (local.get $src) (local.get $srcStride)))
      (local.set $c (i32.add (local.get $c) (local.get $cStride)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $k)))
    (v128.store (local.get $dst) (local.get $a0))
    (v128.store offset=16 (local.get $dst) (local.get $b0))
    (v128.store (local.get $d1) (local.get $a1))
    (v128.store offset=16 (local.get $d1) (local.get $b1))
    (v128.store (local.get $d2) (local.get $a2))
    (v128.store offset=16 (local.get $d2) (local.get $b2))
    (v128.store (local.get $d3) (local.get $a3))
    (v128.store offset=16 (local.get $d3) (local.get $b3))
  )

;; chol ← L, column-major; returns -1 or the first row whose pivot is not > 0.
  (func $cholesky (param $d i32) (param $ld i32) (param $cholOff i32) (result i32)
    (local $colBytes i32) (local $j0 i32) (local $nb i32) (local $kStart i32) (local $j i32) (local $k i32)
    (local $colk i32) (local $colj i32) (local $start i32) (local $at i32) (local $end i32) (local $s f64) (local $l f64) (local $lv v128)
    (local.set $colBytes (i32.shl (local.get $ld) (i32.const 3)))
    (local.set $j0 (i32.const 0))
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.ge_u (local.get $j0) (local.get $d)))
      (local.set $nb (select (i32.const 4) (i32.sub (local.get $d) (local.get $j0)) (i32.ge_u (i32.sub (local.get $d) (local.get $j0)) (i32.const 4))))
      (local.set $kStart (i32.const 0))
      (if (i32.eq (local.get $nb) (i32.const 4)) (then
        ;; columns j0..j0+3, rows j0..ld-1 four at a time, from columns k = 0..j0-1 in 4×4 register tiles
        (local.set $k (local.get $j0))
        (block $iDone (loop $iLoop
          (br_if $iDone (i32.ge_u (local.get $k) (local.get $ld)))
          (call $tile
            (i32.add (i32.add (local.get $cholOff) (i32.mul (local.get $j0) (local.get $colBytes))) (i32.shl (local.get $k) (i32.const 3)))
            (local.get $colBytes)
            (i32.add (local.get $cholOff) (i32.shl (local.get $k) (i32.const 3)))
            (local.get $colBytes)
            (i32.add (local.get $cholOff) (i32.shl (local.get $j0) (i32.const 3)))
            (local.get $colBytes)
            (local.get $j0))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $iLoop)))
        (local.set $kStart (local.get $j0))))
      ;; the block's columns one by one: the updates from columns kStart..j-1, the pivot, the division
      (local.set $j (local.get $j0))
      (block $jDone (loop $jLoop
        (br_if $jDone (i32.ge_u (local.get $j) (i32.add (local.get $j0) (local.get $nb))))
        (local.set $colj (i32.add (local.get $cholOff) (i32.mul (local.get $j) (local.get $colBytes))))
        (local.set $start (i32.shl (i32.and (local.get $j) (i32.const -2)) (i32.const 3)))
        (local.set $k (local.get $kStart))
        (local.set $colk (i32.add (local.get $cholOff) (i32.mul (local.get $k) (local.get $colBytes))))
        (block $kDone2 (loop $kLoop2
          (br_if $kDone2 (i32.ge_u (local.get $k) (local.get $j)))
          (call $axpy
            (i32.add (local.get $colj) (local.get $start))
            (i32.add (local.get $colk) (local.get $start))
            (i32.sub (local.get $colBytes) (local.get $start))
            (f64.load (i32.add (local.get $colk) (i32.shl (local.get $j) (i32.const 3)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (local.set $colk (i32.add (local.get $colk) (local.get $colBytes)))
          (br $kLoop2)))
        (local.set $at (i32.add (local.get $colj) (i32.shl (local.get $j) (i32.const 3))))
        (local.set $s (f64.load (local.get $at)))
        (if (i32.eqz (f64.gt (local.get $s) (f64.const 0))) (then (return (local.get $j))))
        (local.set $l (f64.sqrt (local.get $s)))
        (f64.store (local.get $at) (local.get $l))
        ;; rows j+1..ld-1 divided by L[j][j]: one alone up to an even row, then lane pairs
        (local.set $at (i32.add (local.get $at) (i32.const 8)))
        (local.set $end (i32.add (local.get $colj) (local.get $colBytes)))
        (if (i32.and (i32.lt_u (local.get $at) (local.get $end)) (i32.and (i32.add (local.get $j) (i32.const 1)) (i32.const 1))) (then
          (f64.store (local.get $at) (f64.div (f64.load (local.get $at)) (local.get $l)))
          (local.set $at (i32.add (local.get $at) (i32.const 8)))))
        (local.set $lv (f64x2.splat (local.get $l)))
        (block $divDone (loop $divLoop
          (br_if $divDone (i32.ge_u (local.get $at) (local.get $end)))
          (v128.store (local.get $at) (f64x2.div (v128.load (local.get $at)) (local.get $lv)))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br $divLoop)))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $jLoop)))
      (local.set $j0 (i32.add (local.get $j0) (i32.const 4)))
      (br $blocks)))
    (i32.const -1)
  )

;; inverse ← L⁻¹, row-major (ld), zero past each row's diagonal; returns -1 or the first row whose
;; diagonal entry of L is zero or not finite.
  (func $invert (param $d i32) (param $ld i32) (param $cholOff i32) (param $invOff i32) (result i32)
    (local $rowBytes i32) (local $i0 i32) (local $nb i32) (local $kStart i32) (local $i i32) (local $k i32)
    (local $ri i32) (local $rk i32) (local $lk i32) (local $diag f64) (local $inv v128) (local $at i32) (local $end i32)
    (local.set $rowBytes (i32.shl (local.get $ld) (i32.const 3)))
    (local.set $i0 (i32.const 0))
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.ge_u (local.get $i0) (local.get $d)))
      (local.set $nb (select (i32.const 4) (i32.sub (local.get $d) (local.get $i0)) (i32.ge_u (i32.sub (local.get $d) (local.get $i0)) (i32.const 4))))
      (local.set $i (local.get $i0))
      (block $initDone (loop $initLoop
        (br_if $initDone (i32.ge_u (local.get $i) (i32.add (local.get $i0) (local.get $nb))))
        (local.set $ri (i32.add (local.get $invOff) (i32.mul (local.get $i) (local.get $rowBytes))))
        (memory.fill (local.get $ri) (i32.const 0) (local.get $rowBytes))
        (f64.store (i32.add (local.get $ri) (i32.shl (local.get $i) (i32.const 3))) (f64.const 1))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $initLoop)))
      (local.set $kStart (i32.const 0))
      (if (i32.eq (local.get $nb) (i32.const 4)) (then
        ;; rows i0..i0+3, columns j..j+3 (j < i0), from rows k = j..i0-1 in 4×4 register tiles
        (local.set $k (i32.const 0))
        (block $jDone (loop $jLoop
          (br_if $jDone (i32.ge_u (local.get $k) (local.get $i0)))
          (call $tile
            (i32.add (i32.add (local.get $invOff) (i32.mul (local.get $i0) (local.get $rowBytes))) (i32.shl (local.get $k) (i32.const 3)))
            (local.get $rowBytes)
            (i32.add (i32.add (local.get $invOff) (i32.mul (local.get $k) (local.get $rowBytes))) (i32.shl (local.get $k) (i32.const 3)))
            (local.get $rowBytes)
            (i32.add (i32.add (local.get $cholOff) (i32.mul (local.get $k) (local.get $rowBytes))) (i32.shl (local.get $i0) (i32.const 3)))
            (local.get $rowBytes)
            (i32.sub (local.get $i0) (local.get $k)))
          (local.set $k (i32.add (local.get $k) (i32.const 4)))
          (br $jLoop)))
        (local.set $kStart (local.get $i0))))
      (local.set $i (local.get $i0))
      (block $iDone (loop $iLoop
        (br_if $iDone (i32.ge_u (local.get $i) (i32.add (local.get $i0) (local.get $nb))))
        (local.set $ri (i32.add (local.get $invOff) (i32.mul (local.get $i) (local.get $rowBytes))))
        (local.set $k (local.get $kStart))
        (block $kDone2 (loop $kLoop2
          (br_if $kDone2 (i32.ge_u (local.get $k) (local.get $i)))
          (call $axpy
            (local.get $ri)
            (i32.add (local.get $invOff) (i32.mul (local.get $k) (local.get $rowBytes)))
            (i32.shl (i32.and (i32.add (local.get $k) (i32.const 2)) (i32.const -2)) (i32.const 3))
            (f64.load (i32.add (i32.add (local.get $cholOff) (i32.mul (local.get $k) (local.get $rowBytes))) (i32.shl (local.get $i) (i32.const 3)))))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br $kLoop2)))
        (local.set $diag (f64.load (i32.add (i32.add (local.get $cholOff) (i32.mul (local.get $i) (local.get $rowBytes))) (i32.shl (local.get $i) (i32.const 3)))))
        (if (i32.or (f64.eq (local.get $diag) (f64.const 0)) (f64.ne (f64.sub (local.get $diag) (local.get $diag)) (f64.const 0)))
          (then (return (local.get $i))))
        (local.set $inv (f64x2.splat (f64.div (f64.const 1) (local.get $diag))))
        (local.set $at (local.get $ri))
        (local.set $end (i32.add (local.get $ri) (i32.shl (i32.and (i32.add (local.get $i) (i32.const 2)) (i32.const -2)) (i32.const 3))))
        (block $scaleDone (loop $scaleLoop
          (br_if $scaleDone (i32.ge_u (local.get $at) (local.get $end)))
          (v128.store (local.get $at) (f64x2.mul (v128.load (local.get $at)) (local.get $inv)))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (br $scaleLoop)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop)))
      (local.set $i0 (i32.add (local.get $i0) (i32.const 4)))
      (br $blocks)))
    (i32.const -1)
  )

;; factors ← the lower triangle of inverse, packed row-major.
  (func $pack (param $d i32) (param $ld i32) (param $invOff i32) (param $outOff i32)
    (local $i i32) (local $src i32) (local $dst i32)
    (local.set $src (local.get $invOff))
    (local.set $dst (local.get $outOff))
    (local.set $i (i32.const 0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (memory.copy (local.get $dst) (local.get $src) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3)))
      (local.set $dst (i32.add (local.get $dst) (i32.shl (i32.add (local.get $i) (i32.const 1)) (i32.const 3))))
      (local.set $src (i32.add (local.get $src) (i32.shl (local.get $ld) (i32.const 3))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $rows)))
  )

;; One position: packed co-moments in, packed L⁻¹ out; see the header for the result.
  (func (export "finalize")
    (param $d i32) (param $ld i32) (param $scale f64) (param $reg f64)
    (param $packedOff i32) (param $cholOff i32) (param $invOff i32) (param $outOff i32) (result i32)
    (local $r i32)
    (call $fill (local.get $d) (local.get $ld) (local.get $scale) (local.get $reg) (local.get $packedOff) (local.get $cholOff))
    (local.set $r (call $cholesky (local.get $d) (local.get $ld) (local.get $cholOff)))
    (if (i32.ge_s (local.get $r) (i32.const 0)) (then (return (local.get $r))))
    (local.set $r (call $invert (local.get $d) (local.get $ld) (local.get $cholOff) (local.get $invOff)))
    (if (i32.ge_s (local.get $r) (i32.const 0)) (then (return (i32.add (local.get $d) (local.get $r)))))
    (call $pack (local.get $d) (local.get $ld) (local.get $invOff) (local.get $outOff))
    (i32.const -1)
  )

)
