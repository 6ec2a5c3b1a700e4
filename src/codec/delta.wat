;; The byte-by-byte loops of delta.ts, in WebAssembly: the weak block sum and the search for a
;; position whose sum may be a base block's. In JavaScript the search ran 80-90 ns a byte in an
;; update's deltas (cold code, typed-array accesses with their checks): 51-65 ms of the client's
;; main thread for 177 chunks, on the update's critical path.
;; Memory: a filter of 65536 one-byte entries at 0 (non-zero: some block's weak sum folds to that
;; index), the data from 65536 on. Blocks are 2048 bytes; sums are kept modulo 2^16.
;; Compiled into delta-wasm.ts by `wat2wasm` (Debian package wabt); test/codec/delta-wasm.test.ts
;; checks the two agree.
(module
  (memory (export "mem") 2)
  ;; The rolling sums where "scan" stopped.
  (global $a (export "a") (mut i32) (i32.const 0))
  (global $b (export "b") (mut i32) (i32.const 0))

  ;; The weak sum of the block at data offset $p: b in the high half, a in the low half.
  ;; a sums the bytes, b the running a, i.e. (2048 - i) * byte i; four bytes a step.
  (func (export "weak") (param $p i32) (result i32)
    (local $i i32) (local $end i32) (local $a i32) (local $b i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local.set $i (i32.add (local.get $p) (i32.const 65536)))
    (local.set $end (i32.add (local.get $i) (i32.const 2048)))
    (loop $step
      (local.set $x0 (i32.load8_u (local.get $i)))
      (local.set $x1 (i32.load8_u offset=1 (local.get $i)))
      (local.set $x2 (i32.load8_u offset=2 (local.get $i)))
      (local.set $x3 (i32.load8_u offset=3 (local.get $i)))
      (local.set $b (i32.add (local.get $b)
        (i32.add (i32.add (i32.shl (local.get $a) (i32.const 2)) (i32.shl (local.get $x0) (i32.const 2)))
          (i32.add (i32.mul (local.get $x1) (i32.const 3))
            (i32.add (i32.shl (local.get $x2) (i32.const 1)) (local.get $x3))))))
      (local.set $a (i32.add (local.get $a)
        (i32.add (i32.add (local.get $x0) (local.get $x1)) (i32.add (local.get $x2) (local.get $x3)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br_if $step (i32.lt_u (local.get $i) (local.get $end))))
    (i32.or (i32.shl (local.get $b) (i32.const 16)) (i32.and (local.get $a) (i32.const 0xffff))))

  ;; From data offset $p, with $a and $b the sums of the block there, find the first position
  ;; whose block lies within $len bytes and whose packed sum passes the filter (position $p itself
  ;; only if $skip is 0). Returns it, or -1; either way the sums there (at the end: of the last
  ;; block) are left in the globals.
  (func (export "scan") (param $p i32) (param $len i32) (param $a i32) (param $b i32) (param $skip i32) (result i32)
    (local $w i32) (local $out i32)
    (block $done
      (loop $step
        (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 2048)) (local.get $len)))
        (local.set $w (i32.or (i32.shl (local.get $b) (i32.const 16)) (local.get $a)))
        (if (i32.eqz (local.get $skip))
          (then
            (if (i32.load8_u (i32.and (i32.xor (local.get $w) (i32.shr_u (local.get $w) (i32.const 16))) (i32.const 0xffff)))
              (then
                (global.set $a (local.get $a))
                (global.set $b (local.get $b))
                (return (local.get $p))))))
        (local.set $skip (i32.const 0))
        ;; roll one byte: drop byte $p, take byte $p + 2048 (if there is one)
        (if (i32.lt_u (i32.add (local.get $p) (i32.const 2048)) (local.get $len))
          (then
            (local.set $out (i32.load8_u offset=65536 (local.get $p)))
            (local.set $a (i32.and
              (i32.add (i32.sub (local.get $a) (local.get $out)) (i32.load8_u offset=67584 (local.get $p)))
              (i32.const 0xffff)))
            (local.set $b (i32.and
              (i32.add (i32.sub (local.get $b) (i32.shl (local.get $out) (i32.const 11))) (local.get $a))
              (i32.const 0xffff)))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $step)))
    (global.set $a (local.get $a))
    (global.set $b (local.get $b))
    (i32.const -1)))
