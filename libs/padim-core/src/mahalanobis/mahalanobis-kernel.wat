;; PaDiM Mahalanobis distance kernel for mahalanobis-kernel.ts; assembled into mahalanobis-kernel-wasm.ts
;; by ../wasm/build-wasm-kernels.mjs (regenerate after editing this file).
;;
;; `group` computes ‖L⁻¹(x − μ)‖ at every position for a group of up to eight images, in f32x4: lanes are
;; images, two vectors per group. All offsets are byte addresses into the exported memory, laid out by
;; the TypeScript side:
;;   L     P positions of L⁻¹, each in blocks of four rows (r..r+3) stored column by column: for
;;         c = 0..r+3 the four values L[r..r+3][c], zero above the diagonal and in rows past d. So a
;;         block is one sequential run with no triangular tail: 8·nb(nb+1) f32 per position, nb = D4/4.
;;   mean  P·d f32, position-major.
;;   Y     scratch, [block position][D4 channels][8 images] f32; channels d..D4−1 stay zero.
;;   E     the group's images, [8][d][P] f32 as onnxruntime emits them.
;;   out   [8][P] f32; only the first `count` images are written.
;; In address order (the TypeScript side sizes each region and takes its offsets from this block):
;; @layout group
;; @region L align=16 slack=0 in
;; @region mean align=16 slack=0 in
;; @region Y align=16 slack=0 scratch
;; @region E align=16 slack=0 in
;; @region out align=16 slack=0 out
;; @const GROUP 8        images per call: two f32x4 vectors of lanes
;;
;; Lanes count..7 read whatever E last held for those images rather than zeros: lanes are independent
;; and those are never stored, so the gather needs no branch.
(module
  (memory (export "memory") 1)

  (func (export "group")
    (param $count i32) (param $d i32) (param $D4 i32) (param $P i32) (param $block i32)
    (param $lOff i32) (param $meanOff i32) (param $yOff i32) (param $eOff i32) (param $oOff i32)
    (local $imageBytes i32) (local $rowBytes i32) (local $yPosBytes i32)
    (local $e0 i32) (local $e1 i32) (local $e2 i32) (local $e3 i32)
    (local $e4 i32) (local $e5 i32) (local $e6 i32) (local $e7 i32)
    (local $p0 i32) (local $pb i32) (local $pp i32) (local $c i32) (local $r i32) (local $ok i32)
    (local $src i32) (local $ya i32) (local $ma i32) (local $yc i32) (local $yEnd i32) (local $lp i32)
    (local $oa i32) (local $m f32)
    (local $y0 v128) (local $y1 v128) (local $l v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $s0 v128) (local $s1 v128)

    (local.set $rowBytes (i32.shl (local.get $P) (i32.const 2)))
    (local.set $imageBytes (i32.mul (local.get $d) (local.get $rowBytes)))
    (local.set $yPosBytes (i32.shl (local.get $D4) (i32.const 5)))
    (local.set $e0 (local.get $eOff))
    (local.set $e1 (i32.add (local.get $e0) (local.get $imageBytes)))
    (local.set $e2 (i32.add (local.get $e1) (local.get $imageBytes)))
    (local.set $e3 (i32.add (local.get $e2) (local.get $imageBytes)))
    (local.set $e4 (i32.add (local.get $e3) (local.get $imageBytes)))
    (local.set $e5 (i32.add (local.get $e4) (local.get $imageBytes)))
    (local.set $e6 (i32.add (local.get $e5) (local.get $imageBytes)))
    (local.set $e7 (i32.add (local.get $e6) (local.get $imageBytes)))

    (local.set $lp (local.get $lOff))
    (local.set $p0 (i32.const 0))
    (block $blocksDone (loop $blocks
      (br_if $blocksDone (i32.ge_u (local.get $p0) (local.get $P)))
      (local.set $pb (select (local.get $block) (i32.sub (local.get $P) (local.get $p0))
        (i32.le_u (local.get $block) (i32.sub (local.get $P) (local.get $p0)))))

      ;; Gather Y[pp][c][k] = x − μ for the block. Channel-outer so each image is read along positions,
      ;; sixteen to a cache line, rather than P floats apart.
      (local.set $c (i32.const 0))
      (loop $channels
        (local.set $src (i32.add (i32.mul (local.get $c) (local.get $rowBytes)) (i32.shl (local.get $p0) (i32.const 2))))
        (local.set $ya (i32.add (local.get $yOff) (i32.shl (local.get $c) (i32.const 5))))
        (local.set $ma (i32.add (local.get $meanOff)
          (i32.shl (i32.add (i32.mul (local.get $p0) (local.get $d)) (local.get $c)) (i32.const 2))))
        (local.set $pp (i32.const 0))
        (loop $gather
          (local.set $m (f32.load (local.get $ma)))
          (f32.store offset=0 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e0) (local.get $src))) (local.get $m)))
          (f32.store offset=4 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e1) (local.get $src))) (local.get $m)))
          (f32.store offset=8 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e2) (local.get $src))) (local.get $m)))
          (f32.store offset=12 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e3) (local.get $src))) (local.get $m)))
          (f32.store offset=16 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e4) (local.get $src))) (local.get $m)))
          (f32.store offset=20 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e5) (local.get $src))) (local.get $m)))
          (f32.store offset=24 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e6) (local.get $src))) (local.get $m)))
          (f32.store offset=28 (local.get $ya) (f32.sub (f32.load (i32.add (local.get $e7) (local.get $src))) (local.get $m)))
          (local.set $src (i32.add (local.get $src) (i32.const 4)))
          (local.set $ya (i32.add (local.get $ya) (local.get $yPosBytes)))
          (local.set $ma (i32.add (local.get $ma) (i32.shl (local.get $d) (i32.const 2))))
          (br_if $gather (i32.lt_u (local.tee $pp (i32.add (local.get $pp) (i32.const 1))) (local.get $pb))))
        (br_if $channels (i32.lt_u (local.tee $c (i32.add (local.get $c) (i32.const 1))) (local.get $d))))

      ;; Per position: rows four at a time, eight accumulators (4 rows × 8 images), so each load of Y[c]
      ;; feeds four rows and each splat of L feeds eight images.
      (local.set $ya (local.get $yOff))
      (local.set $oa (i32.add (local.get $oOff) (i32.shl (local.get $p0) (i32.const 2))))
      (local.set $pp (i32.const 0))
      (loop $positions
        (local.set $s0 (v128.const f32x4 0 0 0 0))
        (local.set $s1 (v128.const f32x4 0 0 0 0))
        (local.set $r (i32.const 0))
        (loop $rows
          (local.set $a0 (v128.const f32x4 0 0 0 0)) (local.set $a1 (v128.const f32x4 0 0 0 0))
          (local.set $a2 (v128.const f32x4 0 0 0 0)) (local.set $a3 (v128.const f32x4 0 0 0 0))
          (local.set $a4 (v128.const f32x4 0 0 0 0)) (local.set $a5 (v128.const f32x4 0 0 0 0))
          (local.set $a6 (v128.const f32x4 0 0 0 0)) (local.set $a7 (v128.const f32x4 0 0 0 0))
          (local.set $yc (local.get $ya))
          ;; Columns 0..r+3.
          (local.set $yEnd (i32.add (local.get $ya) (i32.shl (i32.add (local.get $r) (i32.const 4)) (i32.const 5))))
          (loop $cols
            (local.set $y0 (v128.load (local.get $yc)))
            (local.set $y1 (v128.load offset=16 (local.get $yc)))
            (local.set $l (v128.load32_splat (local.get $lp)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $l) (local.get $y0))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $l) (local.get $y1))))
            (local.set $l (v128.load32_splat offset=4 (local.get $lp)))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $l) (local.get $y0))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $l) (local.get $y1))))
            (local.set $l (v128.load32_splat offset=8 (local.get $lp)))
            (local.set $a4 (f32x4.add (local.get $a4) (f32x4.mul (local.get $l) (local.get $y0))))
            (local.set $a5 (f32x4.add (local.get $a5) (f32x4.mul (local.get $l) (local.get $y1))))
            (local.set $l (v128.load32_splat offset=12 (local.get $lp)))
            (local.set $a6 (f32x4.add (local.get $a6) (f32x4.mul (local.get $l) (local.get $y0))))
            (local.set $a7 (f32x4.add (local.get $a7) (f32x4.mul (local.get $l) (local.get $y1))))
            (local.set $lp (i32.add (local.get $lp) (i32.const 16)))
            (br_if $cols (i32.lt_u (local.tee $yc (i32.add (local.get $yc) (i32.const 32))) (local.get $yEnd))))
          (local.set $s0 (f32x4.add (local.get $s0) (f32x4.add
            (f32x4.add (f32x4.mul (local.get $a0) (local.get $a0)) (f32x4.mul (local.get $a2) (local.get $a2)))
            (f32x4.add (f32x4.mul (local.get $a4) (local.get $a4)) (f32x4.mul (local.get $a6) (local.get $a6))))))
          (local.set $s1 (f32x4.add (local.get $s1) (f32x4.add
            (f32x4.add (f32x4.mul (local.get $a1) (local.get $a1)) (f32x4.mul (local.get $a3) (local.get $a3)))
            (f32x4.add (f32x4.mul (local.get $a5) (local.get $a5)) (f32x4.mul (local.get $a7) (local.get $a7))))))
          (br_if $rows (i32.lt_u (local.tee $r (i32.add (local.get $r) (i32.const 4))) (local.get $D4))))

        ;; out[k][p] = √s for the images present; $ok walks out[k][p] down the images.
        (local.set $s0 (f32x4.sqrt (local.get $s0)))
        (local.set $s1 (f32x4.sqrt (local.get $s1)))
        (v128.store32_lane 0 (local.get $oa) (local.get $s0))
        (if (i32.gt_u (local.get $count) (i32.const 1)) (then
          (v128.store32_lane 1 (i32.add (local.get $oa) (local.get $rowBytes)) (local.get $s0))
          (local.set $ok (i32.add (local.get $oa) (i32.shl (local.get $rowBytes) (i32.const 1))))
          (if (i32.gt_u (local.get $count) (i32.const 2)) (then
            (v128.store32_lane 2 (local.get $ok) (local.get $s0))
            (local.set $ok (i32.add (local.get $ok) (local.get $rowBytes)))
            (if (i32.gt_u (local.get $count) (i32.const 3)) (then
              (v128.store32_lane 3 (local.get $ok) (local.get $s0))
              (local.set $ok (i32.add (local.get $ok) (local.get $rowBytes)))
              (if (i32.gt_u (local.get $count) (i32.const 4)) (then
                (v128.store32_lane 0 (local.get $ok) (local.get $s1))
                (local.set $ok (i32.add (local.get $ok) (local.get $rowBytes)))
                (if (i32.gt_u (local.get $count) (i32.const 5)) (then
                  (v128.store32_lane 1 (local.get $ok) (local.get $s1))
                  (local.set $ok (i32.add (local.get $ok) (local.get $rowBytes)))
                  (if (i32.gt_u (local.get $count) (i32.const 6)) (then
                    (v128.store32_lane 2 (local.get $ok) (local.get $s1))
                    (local.set $ok (i32.add (local.get $ok) (local.get $rowBytes)))
                    (if (i32.gt_u (local.get $count) (i32.const 7)) (then
                      (v128.store32_lane 3 (local.get $ok) (local.get $s1))))))))))))))))

        (local.set $ya (i32.add (local.get $ya) (local.get $yPosBytes)))
        (local.set $oa (i32.add (local.get $oa) (i32.const 4)))
        (br_if $positions (i32.lt_u (local.tee $pp (i32.add (local.get $pp) (i32.const 1))) (local.get $pb))))

      (local.set $p0 (i32.add (local.get $p0) (local.get $pb)))
      (br $blocks)))))
