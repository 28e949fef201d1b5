;; PNG unfiltering kernel for png-unfilter.ts; assembled into png-unfilter-wasm.ts by
;; ../wasm/build-wasm-kernels.mjs (regenerate after editing this file).
;;
;; Sub, Average and Paeth make each byte depend on the byte `bpp` before it in its row, so within a row
;; the work is a sequential chain (for grey, one byte at a time). Across rows it is not: byte x of row
;; y needs row y−1 only at x and x−bpp. So the kernel takes rows sixteen at a time, one per i8x16
;; lane, on a diagonal wavefront: at step s lane k works on byte x = s − k of row y0+k. Then
;;   a (x−bpp, same row)  = lane k  of the output vector of step s−bpp,
;;   b (x, row above)     = lane k−1 of the output vector of step s−1 (lane 0: the row above the block),
;;   c (x−bpp, row above) = b's vector of step s−bpp,
;; so every filter is a lane-wise function of (raw, a, b, c), and each lane picks its row's filter by
;; mask: one step unfilters sixteen bytes whatever the filters and bpp. Lanes at x < 0 see raw = 0 and
;; come out 0 (every filter maps zeros to zero), which is the PNG's zero left of a row; lanes past the
;; row's end compute garbage that only ever flows to lanes further right or below, never back.
;;
;; The raw rows are brought to the diagonal layout by sixteen unaligned loads (row k from x0 − k)
;; and a 16×16 byte transpose per tile of sixteen steps, and the outputs back the same way (the
;; transposes are about a third of the time, the steps the rest), into a padded copy of the image
;; (rows rowLen + 64 bytes apart, so a tile's overhang, up to 15 bytes before a row and 30 after it,
;; lands between rows); the rows are finally copied to `outOff`.
;;
;; Memory (byte offsets, laid out by the TypeScript side; all regions 16-byte aligned):
;;   scr     scratch, 2048 bytes: tile (256) unused (256) O ring (512) B ring (512) raw row pointers
;;           (64) padded row pointers (64) filter types (16)
;;   raw     height rows of a filter byte + rowLen bytes, then 64 bytes of slack
;;   pad     32 bytes, then height + 17 rows of rowLen + 64 bytes (row −1 first: zeros), then 64
;;   out     height·rowLen bytes, then 64
;; The same, as the TypeScript side lays it out (sizes there, offsets from this block):
;; @layout unfilter
;; @region scr align=16 slack=0 scratch
;; @region raw align=16 slack=64 in
;; @region pad align=16 slack=64 scratch
;; @region out align=16 slack=64 out
;; @const SCRATCH_BYTES 2048
;; @const PAD_LEAD_BYTES 32      before row −1 of the padded copy
;; @const PAD_EXTRA_ROWS 17      rows of the padded copy besides the image's, row −1 first
;; @const ROW_PADDING 64         bytes between the padded copy's rows
(module
  (memory (export "memory") 1)

  ;; The transpose of the 16×16 bytes at `src` (a row per 16 bytes) into `dst`, in registers: four
  ;; rounds of the perfect shuffle (out[2i], out[2i+1] = low and high byte interleaves of in[i] and
  ;; in[i+8]) transpose a 16×16 byte matrix.
  (func $transpose (param $src i32) (param $dst i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128) (local $a6 v128) (local $a7 v128)
    (local $a8 v128) (local $a9 v128) (local $a10 v128) (local $a11 v128) (local $a12 v128) (local $a13 v128) (local $a14 v128) (local $a15 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $b4 v128) (local $b5 v128) (local $b6 v128) (local $b7 v128)
    (local $b8 v128) (local $b9 v128) (local $b10 v128) (local $b11 v128) (local $b12 v128) (local $b13 v128) (local $b14 v128) (local $b15 v128)
    (local.set $a0 (v128.load offset=0 (local.get $src)))
    (local.set $a1 (v128.load offset=16 (local.get $src)))
    (local.set $a2 (v128.load offset=32 (local.get $src)))
    (local.set $a3 (v128.load offset=48 (local.get $src)))
    (local.set $a4 (v128.load offset=64 (local.get $src)))
    (local.set $a5 (v128.load offset=80 (local.get $src)))
    (local.set $a6 (v128.load offset=96 (local.get $src)))
    (local.set $a7 (v128.load offset=112 (local.get $src)))
    (local.set $a8 (v128.load offset=128 (local.get $src)))
    (local.set $a9 (v128.load offset=144 (local.get $src)))
    (local.set $a10 (v128.load offset=160 (local.get $src)))
    (local.set $a11 (v128.load offset=176 (local.get $src)))
    (local.set $a12 (v128.load offset=192 (local.get $src)))
    (local.set $a13 (v128.load offset=208 (local.get $src)))
    (local.set $a14 (v128.load offset=224 (local.get $src)))
    (local.set $a15 (v128.load offset=240 (local.get $src)))
    ;; round 1
    (local.set $b0 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a0) (local.get $a8)))
    (local.set $b1 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a0) (local.get $a8)))
    (local.set $b2 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a1) (local.get $a9)))
    (local.set $b3 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a1) (local.get $a9)))
    (local.set $b4 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a2) (local.get $a10)))
    (local.set $b5 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a2) (local.get $a10)))
    (local.set $b6 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a3) (local.get $a11)))
    (local.set $b7 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a3) (local.get $a11)))
    (local.set $b8 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a4) (local.get $a12)))
    (local.set $b9 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a4) (local.get $a12)))
    (local.set $b10 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a5) (local.get $a13)))
    (local.set $b11 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a5) (local.get $a13)))
    (local.set $b12 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a6) (local.get $a14)))
    (local.set $b13 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a6) (local.get $a14)))
    (local.set $b14 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a7) (local.get $a15)))
    (local.set $b15 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a7) (local.get $a15)))
    ;; round 2
    (local.set $a0 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b0) (local.get $b8)))
    (local.set $a1 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b0) (local.get $b8)))
    (local.set $a2 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b1) (local.get $b9)))
    (local.set $a3 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b1) (local.get $b9)))
    (local.set $a4 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b2) (local.get $b10)))
    (local.set $a5 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b2) (local.get $b10)))
    (local.set $a6 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b3) (local.get $b11)))
    (local.set $a7 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b3) (local.get $b11)))
    (local.set $a8 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b4) (local.get $b12)))
    (local.set $a9 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b4) (local.get $b12)))
    (local.set $a10 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b5) (local.get $b13)))
    (local.set $a11 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b5) (local.get $b13)))
    (local.set $a12 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b6) (local.get $b14)))
    (local.set $a13 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b6) (local.get $b14)))
    (local.set $a14 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b7) (local.get $b15)))
    (local.set $a15 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b7) (local.get $b15)))
    ;; round 3
    (local.set $b0 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a0) (local.get $a8)))
    (local.set $b1 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a0) (local.get $a8)))
    (local.set $b2 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a1) (local.get $a9)))
    (local.set $b3 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a1) (local.get $a9)))
    (local.set $b4 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a2) (local.get $a10)))
    (local.set $b5 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a2) (local.get $a10)))
    (local.set $b6 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a3) (local.get $a11)))
    (local.set $b7 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a3) (local.get $a11)))
    (local.set $b8 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a4) (local.get $a12)))
    (local.set $b9 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a4) (local.get $a12)))
    (local.set $b10 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a5) (local.get $a13)))
    (local.set $b11 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a5) (local.get $a13)))
    (local.set $b12 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a6) (local.get $a14)))
    (local.set $b13 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a6) (local.get $a14)))
    (local.set $b14 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $a7) (local.get $a15)))
    (local.set $b15 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $a7) (local.get $a15)))
    ;; round 4
    (local.set $a0 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b0) (local.get $b8)))
    (local.set $a1 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b0) (local.get $b8)))
    (local.set $a2 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b1) (local.get $b9)))
    (local.set $a3 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b1) (local.get $b9)))
    (local.set $a4 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b2) (local.get $b10)))
    (local.set $a5 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b2) (local.get $b10)))
    (local.set $a6 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b3) (local.get $b11)))
    (local.set $a7 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b3) (local.get $b11)))
    (local.set $a8 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b4) (local.get $b12)))
    (local.set $a9 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b4) (local.get $b12)))
    (local.set $a10 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b5) (local.get $b13)))
    (local.set $a11 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b5) (local.get $b13)))
    (local.set $a12 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b6) (local.get $b14)))
    (local.set $a13 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b6) (local.get $b14)))
    (local.set $a14 (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23 (local.get $b7) (local.get $b15)))
    (local.set $a15 (i8x16.shuffle 8 24 9 25 10 26 11 27 12 28 13 29 14 30 15 31 (local.get $b7) (local.get $b15)))
    (v128.store offset=0 (local.get $dst) (local.get $a0))
    (v128.store offset=16 (local.get $dst) (local.get $a1))
    (v128.store offset=32 (local.get $dst) (local.get $a2))
    (v128.store offset=48 (local.get $dst) (local.get $a3))
    (v128.store offset=64 (local.get $dst) (local.get $a4))
    (v128.store offset=80 (local.get $dst) (local.get $a5))
    (v128.store offset=96 (local.get $dst) (local.get $a6))
    (v128.store offset=112 (local.get $dst) (local.get $a7))
    (v128.store offset=128 (local.get $dst) (local.get $a8))
    (v128.store offset=144 (local.get $dst) (local.get $a9))
    (v128.store offset=160 (local.get $dst) (local.get $a10))
    (v128.store offset=176 (local.get $dst) (local.get $a11))
    (v128.store offset=192 (local.get $dst) (local.get $a12))
    (v128.store offset=208 (local.get $dst) (local.get $a13))
    (v128.store offset=224 (local.get $dst) (local.get $a14))
    (v128.store offset=240 (local.get $dst) (local.get $a15)))

  ;; Unfilters `height` rows of `rowLen` bytes (width·bpp) with `bpp` bytes per pixel (1..4). Filter
  ;; types must already be checked to be 0..4.
  (func (export "unfilter")
    (param $rowLen i32) (param $height i32) (param $bpp i32)
    (param $scr i32) (param $rawOff i32) (param $padOff i32) (param $outOff i32)
    (local $P i32) (local $S i32) (local $stride i32) (local $y0 i32) (local $k i32) (local $row i32)
    (local $x0 i32) (local $s i32) (local $sEnd i32) (local $p i32) (local $i i32)
    (local $t0 i32) (local $oRing i32) (local $bRing i32)
    (local $rawPtrs i32) (local $padPtrs i32) (local $filt i32) (local $prev i32) (local $back i32)
    (local $R v128) (local $A v128) (local $B v128) (local $C v128) (local $O v128)
    (local $Msub v128) (local $Mup v128) (local $Mavg v128) (local $Mpaeth v128) (local $F v128)
    (local $pa v128) (local $pb v128) (local $pc v128) (local $m v128) (local $v v128)

    (local.set $t0 (local.get $scr))
    (local.set $oRing (i32.add (local.get $scr) (i32.const 512)))
    (local.set $bRing (i32.add (local.get $scr) (i32.const 1024)))
    (local.set $rawPtrs (i32.add (local.get $scr) (i32.const 1536)))
    (local.set $padPtrs (i32.add (local.get $scr) (i32.const 1600)))
    (local.set $filt (i32.add (local.get $scr) (i32.const 1664)))
    (local.set $P (i32.add (local.get $rowLen) (i32.const 64)))
    (local.set $S (i32.add (local.get $rowLen) (i32.const 15)))
    (local.set $stride (i32.add (local.get $rowLen) (i32.const 1)))

    ;; Row −1 (the zeros above row 0).
    (local.set $p (i32.add (local.get $padOff) (i32.const 32)))
    (local.set $i (i32.const 0))
    (loop $zeroRow
      (v128.store (i32.add (local.get $p) (local.get $i)) (v128.const i64x2 0 0))
      (br_if $zeroRow (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 16))) (local.get $P))))

    (local.set $y0 (i32.const 0))
    (loop $blocks
      ;; Row pointers (rows past the end repeat the last row: their lanes are garbage, never stored
      ;; where they are read) and the rows' filter types.
      (local.set $k (i32.const 0))
      (loop $rows
        (local.set $row (i32.add (local.get $y0) (local.get $k)))
        (if (i32.ge_u (local.get $row) (local.get $height))
          (then (local.set $row (i32.sub (local.get $height) (i32.const 1)))))
        (local.set $p (i32.add (local.get $rawOff) (i32.mul (local.get $row) (local.get $stride))))
        (i32.store (i32.add (local.get $rawPtrs) (i32.shl (local.get $k) (i32.const 2))) (local.get $p))
        (i32.store8 (i32.add (local.get $filt) (local.get $k)) (i32.load8_u (local.get $p)))
        (i32.store (i32.add (local.get $padPtrs) (i32.shl (local.get $k) (i32.const 2)))
          (i32.add (i32.add (local.get $padOff) (i32.const 32))
            (i32.mul (i32.add (i32.add (local.get $y0) (local.get $k)) (i32.const 1)) (local.get $P))))
        (br_if $rows (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 16))))
      (local.set $F (v128.load (local.get $filt)))
      (local.set $Msub (i8x16.eq (local.get $F) (i8x16.splat (i32.const 1))))
      (local.set $Mup (i8x16.eq (local.get $F) (i8x16.splat (i32.const 2))))
      (local.set $Mavg (i8x16.eq (local.get $F) (i8x16.splat (i32.const 3))))
      (local.set $Mpaeth (i8x16.eq (local.get $F) (i8x16.splat (i32.const 4))))
      ;; The row above the block (padded row y0 − 1).
      (local.set $prev (i32.add (i32.add (local.get $padOff) (i32.const 32)) (i32.mul (local.get $y0) (local.get $P))))

      ;; Steps before 0 read zero vectors from the rings.
      (local.set $i (i32.const 0))
      (loop $zeroRings
        (v128.store (i32.add (local.get $oRing) (local.get $i)) (v128.const i64x2 0 0))
        (br_if $zeroRings (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 16))) (i32.const 1024))))
      (local.set $O (v128.const i64x2 0 0))
      (local.set $B (v128.const i64x2 0 0))

      (local.set $x0 (i32.const 0))
      (loop $tiles
        ;; Diagonal gather: lane k of step x0 + j is byte x0 + j − k of row k, so row k is loaded
        ;; from x0 − k, and on the first tile its bytes left of the row are masked to zero.
        (local.set $k (i32.const 0))
        (loop $gather
          (local.set $v (v128.load
            (i32.sub
              (i32.add (i32.load (i32.add (local.get $rawPtrs) (i32.shl (local.get $k) (i32.const 2))))
                (i32.add (local.get $x0) (i32.const 1)))
              (local.get $k))))
          (if (i32.eqz (local.get $x0)) (then
            (local.set $v (v128.and (local.get $v)
              (i8x16.ge_u (v128.const i8x16 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
                (i8x16.splat (local.get $k)))))))
          (v128.store (i32.add (local.get $t0) (i32.shl (local.get $k) (i32.const 4))) (local.get $v))
          (br_if $gather (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 16))))
        (call $transpose (local.get $t0) (local.get $t0))

        (local.set $s (local.get $x0))
        (local.set $sEnd (i32.add (local.get $x0) (i32.const 16)))
        (local.set $p (local.get $t0))
        (if (i32.eq (local.get $bpp) (i32.const 1))
          (then
            ;; bpp = 1: a is the previous step's output and c the previous step's b, in registers.
            (loop $steps1
              (local.set $A (local.get $O))
              (local.set $C (local.get $B))
              (local.set $R (v128.load (local.get $p)))
              ;; b: the previous output moved up a lane, lane 0 from the row above (byte 15 of the
              ;; load ending at prev[s]).
              (local.set $B (i8x16.shuffle 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
                (v128.load (i32.sub (i32.add (local.get $prev) (local.get $s)) (i32.const 15)))
                (local.get $O)))
              ;; Paeth: pa = |b − c|, pb = |a − c|, pc = |a + b − 2c|, where pc is |pa ± pb| by the
              ;; signs of a − c and b − c, saturated at 255 (pa, pb ≤ 255 compare the same); with
              ;; m = min(pb, pc) the predictor is a if pa ≤ m, else b if pb ≤ pc, else c.
              (local.set $pa (i8x16.sub (i8x16.max_u (local.get $B) (local.get $C)) (i8x16.min_u (local.get $B) (local.get $C))))
              (local.set $pb (i8x16.sub (i8x16.max_u (local.get $A) (local.get $C)) (i8x16.min_u (local.get $A) (local.get $C))))
              (local.set $pc (v128.bitselect
                (i8x16.add_sat_u (local.get $pa) (local.get $pb))
                (i8x16.sub (i8x16.max_u (local.get $pa) (local.get $pb)) (i8x16.min_u (local.get $pa) (local.get $pb)))
                (i8x16.eq (i8x16.ge_u (local.get $A) (local.get $C)) (i8x16.ge_u (local.get $B) (local.get $C)))))
              (local.set $m (i8x16.min_u (local.get $pb) (local.get $pc)))
              (local.set $O (i8x16.add (local.get $R)
                (v128.or
                  (v128.or
                    (v128.and (local.get $A) (local.get $Msub))
                    (v128.and (local.get $B) (local.get $Mup)))
                  (v128.or
                    ;; Average: floor((a + b) / 2) = the rounded-up average less the odd bit.
                    (v128.and (local.get $Mavg)
                      (i8x16.sub (i8x16.avgr_u (local.get $A) (local.get $B))
                        (v128.and (v128.xor (local.get $A) (local.get $B)) (i8x16.splat (i32.const 1)))))
                    (v128.and (local.get $Mpaeth)
                      (v128.bitselect
                        (local.get $A)
                        (v128.bitselect (local.get $B) (local.get $C) (i8x16.eq (local.get $m) (local.get $pb)))
                        (i8x16.eq (i8x16.min_u (local.get $pa) (local.get $m)) (local.get $pa))))))))
              (v128.store (i32.add (local.get $oRing) (i32.shl (i32.and (local.get $s) (i32.const 31)) (i32.const 4))) (local.get $O))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (br_if $steps1 (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (local.get $sEnd)))))
          (else
            ;; bpp 2..4: a and c from the rings, bpp steps back.
            (loop $stepsN
              (local.set $back (i32.shl (i32.and (i32.sub (local.get $s) (local.get $bpp)) (i32.const 31)) (i32.const 4)))
              (local.set $A (v128.load (i32.add (local.get $oRing) (local.get $back))))
              (local.set $C (v128.load (i32.add (local.get $bRing) (local.get $back))))
              (local.set $R (v128.load (local.get $p)))
              (local.set $B (i8x16.shuffle 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
                (v128.load (i32.sub (i32.add (local.get $prev) (local.get $s)) (i32.const 15)))
                (local.get $O)))
              (local.set $pa (i8x16.sub (i8x16.max_u (local.get $B) (local.get $C)) (i8x16.min_u (local.get $B) (local.get $C))))
              (local.set $pb (i8x16.sub (i8x16.max_u (local.get $A) (local.get $C)) (i8x16.min_u (local.get $A) (local.get $C))))
              (local.set $pc (v128.bitselect
                (i8x16.add_sat_u (local.get $pa) (local.get $pb))
                (i8x16.sub (i8x16.max_u (local.get $pa) (local.get $pb)) (i8x16.min_u (local.get $pa) (local.get $pb)))
                (i8x16.eq (i8x16.ge_u (local.get $A) (local.get $C)) (i8x16.ge_u (local.get $B) (local.get $C)))))
              (local.set $m (i8x16.min_u (local.get $pb) (local.get $pc)))
              (local.set $O (i8x16.add (local.get $R)
                (v128.or
                  (v128.or
                    (v128.and (local.get $A) (local.get $Msub))
                    (v128.and (local.get $B) (local.get $Mup)))
                  (v128.or
                    (v128.and (local.get $Mavg)
                      (i8x16.sub (i8x16.avgr_u (local.get $A) (local.get $B))
                        (v128.and (v128.xor (local.get $A) (local.get $B)) (i8x16.splat (i32.const 1)))))
                    (v128.and (local.get $Mpaeth)
                      (v128.bitselect
                        (local.get $A)
                        (v128.bitselect (local.get $B) (local.get $C) (i8x16.eq (local.get $m) (local.get $pb)))
                        (i8x16.eq (i8x16.min_u (local.get $pa) (local.get $m)) (local.get $pa))))))))
              (local.set $back (i32.shl (i32.and (local.get $s) (i32.const 31)) (i32.const 4)))
              (v128.store (i32.add (local.get $oRing) (local.get $back)) (local.get $O))
              (v128.store (i32.add (local.get $bRing) (local.get $back)) (local.get $B))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (br_if $stepsN (i32.lt_u (local.tee $s (i32.add (local.get $s) (i32.const 1))) (local.get $sEnd))))))

        ;; Back from the diagonal: the transpose of this tile's outputs holds row k from x0 − k.
        (call $transpose
          (i32.add (local.get $oRing) (i32.shl (i32.and (local.get $x0) (i32.const 31)) (i32.const 4)))
          (local.get $t0))
        (local.set $k (i32.const 0))
        (loop $scatter
          (v128.store
            (i32.sub
              (i32.add (i32.load (i32.add (local.get $padPtrs) (i32.shl (local.get $k) (i32.const 2)))) (local.get $x0))
              (local.get $k))
            (v128.load (i32.add (local.get $t0) (i32.shl (local.get $k) (i32.const 4)))))
          (br_if $scatter (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (i32.const 16))))

        (br_if $tiles (i32.lt_u (local.tee $x0 (i32.add (local.get $x0) (i32.const 16))) (local.get $S))))
      (br_if $blocks (i32.lt_u (local.tee $y0 (i32.add (local.get $y0) (i32.const 16))) (local.get $height))))

    ;; Padded rows to the packed output.
    (local.set $row (i32.const 0))
    (local.set $p (i32.add (i32.add (local.get $padOff) (i32.const 32)) (local.get $P)))
    (local.set $i (local.get $outOff))
    (loop $pack
      (memory.copy (local.get $i) (local.get $p) (local.get $rowLen))
      (local.set $p (i32.add (local.get $p) (local.get $P)))
      (local.set $i (i32.add (local.get $i) (local.get $rowLen)))
      (br_if $pack (i32.lt_u (local.tee $row (i32.add (local.get $row) (i32.const 1))) (local.get $height)))))
)
