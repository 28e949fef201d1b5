;; Pillow's 8-bit resampling passes for resize-pil.ts (ImagingResampleHorizontal_8bpc and
;; ImagingResampleVertical_8bpc); assembled into resize-pil-wasm.ts by ../wasm/build-wasm-kernels.mjs
;; (regenerate after editing this file).
;;
;; Each output value is clip8(((1 << 21) + Σ pixel·k) >> 22) over its taps, in i32 like Pillow's int
;; sums (bilinear weights are positive: a sum stays below 255·2²² + 2²¹ < 2³¹). The fixed-point
;; coefficients come from the TypeScript side, K per output (the taps, then zeros up to a multiple of
;; four), with each output's first tap (`mins`) and tap count (`counts`). Rows are `rowBytes` apart,
;; HWC interleaved. The passes may read up to 16 bytes past the last row and write up to 16 bytes past
;; the last output row, and an output row's overhang lands in the next row before that row is written,
;; so each region is followed by 64 bytes of slack. All offsets are byte addresses into the memory.
;;
;; The TypeScript side sizes each region and takes its offsets from these blocks, in address order:
;; `resize` for a whole image (coefficients, taps and counts of the horizontal (cx) and vertical (cy)
;; passes, the source, the horizontal pass's rows and the output; absent regions take no memory),
;; `rows` for the vertical pass over a window of rows.
;; @layout resize
;; @region cx align=16 slack=64 in
;; @region cxMins align=16 slack=64 in
;; @region cxCounts align=16 slack=64 in
;; @region cy align=16 slack=64 in
;; @region cyMins align=16 slack=64 in
;; @region cyCounts align=16 slack=64 in
;; @region src align=16 slack=64 in
;; @region tmp align=16 slack=64 scratch
;; @region out align=16 slack=64 out
;; @layout rows
;; @region coef align=16 slack=64 in
;; @region mins align=16 slack=64 in
;; @region counts align=16 slack=64 in
;; @region src align=16 slack=64 in
;; @region out align=16 slack=64 out
(module
  (memory (export "memory") 1)

  ;; Horizontal pass for one channel: taps in i32x4 lanes, four taps at a time (zero coefficients
  ;; past an output's last tap), and outputs four at a time (`mins` and `coef` cover outW rounded up
  ;; to four, the extra outputs all zeros), whose lane sums are reduced together and stored as four
  ;; bytes.
  (func (export "horizontal1")
    (param $src i32) (param $inW i32) (param $rows i32) (param $dst i32) (param $outW i32)
    (param $coef i32) (param $mins i32) (param $K i32)
    (local $y i32) (local $x i32) (local $o i32) (local $t i32) (local $s i32) (local $c i32)
    (local $kBytes i32) (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local $acc v128) (local $lo v128) (local $hi v128)
    (local.set $kBytes (i32.shl (local.get $K) (i32.const 2)))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $rows)))
      (local.set $x (i32.const 0))
      (loop $groups
        ;; Four outputs x..x+3, each a vector of partial sums over its taps.
        (local.set $o (i32.const 0))
        (loop $outputs
          (local.set $acc (v128.const i64x2 0 0))
          (local.set $s (i32.add (local.get $src)
            (i32.load (i32.add (local.get $mins) (i32.shl (i32.add (local.get $x) (local.get $o)) (i32.const 2))))))
          (local.set $c (i32.add (local.get $coef)
            (i32.mul (i32.add (local.get $x) (local.get $o)) (local.get $kBytes))))
          (local.set $t (i32.const 0))
          (loop $taps
            (local.set $acc (i32x4.add (local.get $acc)
              (i32x4.mul
                (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $s))))
                (v128.load (local.get $c)))))
            (local.set $s (i32.add (local.get $s) (i32.const 4)))
            (local.set $c (i32.add (local.get $c) (i32.const 16)))
            (br_if $taps (i32.lt_u (local.tee $t (i32.add (local.get $t) (i32.const 4))) (local.get $K))))
          ;; After the fourth output acc0..acc3 hold outputs x+3..x.
          (local.set $acc3 (local.get $acc2))
          (local.set $acc2 (local.get $acc1))
          (local.set $acc1 (local.get $acc0))
          (local.set $acc0 (local.get $acc))
          (br_if $outputs (i32.lt_u (local.tee $o (i32.add (local.get $o) (i32.const 1))) (i32.const 4))))
        ;; [Σacc3, Σacc2, Σacc1, Σacc0]: pairwise sums, then the sums of those.
        (local.set $lo (i32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $acc3) (local.get $acc2))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $acc3) (local.get $acc2))))
        (local.set $hi (i32x4.add
          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $acc1) (local.get $acc0))
          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $acc1) (local.get $acc0))))
        (local.set $acc (i32x4.add
          (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $lo) (local.get $hi))
          (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $lo) (local.get $hi))))
        (local.set $acc (i32x4.shr_s (i32x4.add (local.get $acc) (i32x4.splat (i32.const 0x200000))) (i32.const 22)))
        ;; Saturating narrows clip to 0..255.
        (v128.store32_lane 0 (i32.add (local.get $dst) (local.get $x))
          (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $acc) (local.get $acc)) (local.get $acc)))
        (br_if $groups (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 4))) (local.get $outW))))
      (local.set $src (i32.add (local.get $src) (local.get $inW)))
      (local.set $dst (i32.add (local.get $dst) (local.get $outW)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rowsLoop))))

  ;; Horizontal pass for 2..4 channels: channels in i32x4 lanes (lanes past `channels` are garbage
  ;; and their bytes are overwritten by the next pixel or land in slack), one tap at a time.
  (func (export "horizontalN")
    (param $src i32) (param $inW i32) (param $rows i32) (param $channels i32) (param $dst i32)
    (param $outW i32) (param $coef i32) (param $mins i32) (param $counts i32) (param $K i32)
    (local $y i32) (local $x i32) (local $t i32) (local $n i32) (local $s i32) (local $c i32) (local $d i32)
    (local $inRow i32) (local $outRow i32) (local $kBytes i32) (local $acc v128)
    (local.set $kBytes (i32.shl (local.get $K) (i32.const 2)))
    (local.set $inRow (i32.mul (local.get $inW) (local.get $channels)))
    (local.set $outRow (i32.mul (local.get $outW) (local.get $channels)))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $rows)))
      (local.set $d (local.get $dst))
      (local.set $x (i32.const 0))
      (loop $pixels
        (local.set $acc (i32x4.splat (i32.const 0x200000)))
        (local.set $s (i32.add (local.get $src)
          (i32.mul (i32.load (i32.add (local.get $mins) (i32.shl (local.get $x) (i32.const 2)))) (local.get $channels))))
        (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $x) (i32.const 2)))))
        (local.set $c (i32.add (local.get $coef) (i32.mul (local.get $x) (local.get $kBytes))))
        (local.set $t (i32.const 0))
        (block $tapsDone (loop $taps
          (br_if $tapsDone (i32.ge_u (local.get $t) (local.get $n)))
          (local.set $acc (i32x4.add (local.get $acc)
            (i32x4.mul
              (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.load32_zero (local.get $s))))
              (i32x4.splat (i32.load (local.get $c))))))
          (local.set $s (i32.add (local.get $s) (local.get $channels)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $taps)))
        (local.set $acc (i32x4.shr_s (local.get $acc) (i32.const 22)))
        (v128.store32_lane 0 (local.get $d)
          (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $acc) (local.get $acc)) (local.get $acc)))
        (local.set $d (i32.add (local.get $d) (local.get $channels)))
        (br_if $pixels (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 1))) (local.get $outW))))
      (local.set $src (i32.add (local.get $src) (local.get $inRow)))
      (local.set $dst (i32.add (local.get $dst) (local.get $outRow)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rowsLoop))))

  ;; Vertical pass, any channels: sixteen bytes of a row at a time in four i32x4, one tap (row) at a
  ;; time with its coefficient splatted.
  (func (export "vertical")
    (param $src i32) (param $rowBytes i32) (param $dst i32) (param $outH i32)
    (param $coef i32) (param $mins i32) (param $counts i32) (param $K i32)
    (local $y i32) (local $x i32) (local $t i32) (local $n i32) (local $s i32) (local $c i32)
    (local $base i32) (local $kBytes i32)
    (local $k v128) (local $v v128) (local $w v128)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local.set $kBytes (i32.shl (local.get $K) (i32.const 2)))
    (local.set $y (i32.const 0))
    (block $rowsDone (loop $rowsLoop
      (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $outH)))
      (local.set $base (i32.add (local.get $src)
        (i32.mul (i32.load (i32.add (local.get $mins) (i32.shl (local.get $y) (i32.const 2)))) (local.get $rowBytes))))
      (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $y) (i32.const 2)))))
      (local.set $x (i32.const 0))
      (loop $chunks
        (local.set $acc0 (i32x4.splat (i32.const 0x200000)))
        (local.set $acc1 (local.get $acc0))
        (local.set $acc2 (local.get $acc0))
        (local.set $acc3 (local.get $acc0))
        (local.set $s (i32.add (local.get $base) (local.get $x)))
        (local.set $c (i32.add (local.get $coef) (i32.mul (local.get $y) (local.get $kBytes))))
        (local.set $t (i32.const 0))
        (block $tapsDone (loop $taps
          (br_if $tapsDone (i32.ge_u (local.get $t) (local.get $n)))
          (local.set $k (i32x4.splat (i32.load (local.get $c))))
          (local.set $v (v128.load (local.get $s)))
          (local.set $w (i16x8.extend_low_i8x16_u (local.get $v)))
          (local.set $acc0 (i32x4.add (local.get $acc0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $w)) (local.get $k))))
          (local.set $acc1 (i32x4.add (local.get $acc1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $w)) (local.get $k))))
          (local.set $w (i16x8.extend_high_i8x16_u (local.get $v)))
          (local.set $acc2 (i32x4.add (local.get $acc2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $w)) (local.get $k))))
          (local.set $acc3 (i32x4.add (local.get $acc3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $w)) (local.get $k))))
          (local.set $s (i32.add (local.get $s) (local.get $rowBytes)))
          (local.set $c (i32.add (local.get $c) (i32.const 4)))
          (local.set $t (i32.add (local.get $t) (i32.const 1)))
          (br $taps)))
        (v128.store (i32.add (local.get $dst) (local.get $x))
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s (local.get $acc0) (i32.const 22))
              (i32x4.shr_s (local.get $acc1) (i32.const 22)))
            (i16x8.narrow_i32x4_s
              (i32x4.shr_s (local.get $acc2) (i32.const 22))
              (i32x4.shr_s (local.get $acc3) (i32.const 22)))))
        (br_if $chunks (i32.lt_u (local.tee $x (i32.add (local.get $x) (i32.const 16))) (local.get $rowBytes))))
      (local.set $dst (i32.add (local.get $dst) (local.get $rowBytes)))
      (local.set $y (i32.add (local.get $y) (i32.const 1)))
      (br $rowsLoop))))
)
