;; The chunker's inner loop (see cdc.ts), in WebAssembly: 2.5x the bytes a second of the same
;; loop in JavaScript, whose typed-array accesses V8 cannot free of their checks.
;; Memory: the gear table at 0, the table shifted left by one at 1024, data from 2048 on.
;; Compiled into gear-wasm.ts by `wat2wasm` (Debian package wabt); test/chunker/gear-wasm.test.ts
;; checks the two agree.
(module
  (memory (export "mem") 1)
  ;; The rolling hash between calls: a chunk's scan runs in two loops with different masks.
  (global $h (export "h") (mut i32) (i32.const 0))
  ;; Roll two bytes a step from address $i while $i + 1 < $stop. Returns the address just past
  ;; the cut (the hash of the byte at $i tested against $m2, that of $i + 1 against $m1), or
  ;; -1 - $i for the address where the scan stopped without one.
  (func (export "run") (param $i i32) (param $stop i32) (param $m2 i32) (param $m1 i32) (result i32)
    (local $h i32)
    (local.set $h (global.get $h))
    (block $done
      (loop $step
        (br_if $done (i32.ge_u (i32.add (local.get $i) (i32.const 1)) (local.get $stop)))
        (local.set $h (i32.add (i32.shl (local.get $h) (i32.const 2))
          (i32.load offset=1024 (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $m2)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $i) (i32.const 1)))))
        (local.set $h (i32.add (local.get $h)
          (i32.load (i32.shl (i32.load8_u offset=1 (local.get $i)) (i32.const 2)))))
        (if (i32.eqz (i32.and (local.get $h) (local.get $m1)))
          (then (global.set $h (local.get $h)) (return (i32.add (local.get $i) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $step)))
    (global.set $h (local.get $h))
    (i32.sub (i32.const -1) (local.get $i))))
