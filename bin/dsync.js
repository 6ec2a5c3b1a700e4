#!/usr/bin/env node
// Thin launcher: the CLI is compiled from src/ into dist/ and bundled into dist/bundle/ by
// `npm run build` (see src/build/bundle.ts).
// More libuv threads where there are cores for them: the receiver creates many files at once (see
// receiver/assembly.ts). Two a core at most: a request finding a thread idle wakes it, and on a
// busy machine the woken thread takes the CPU from the event loop. Measured on 2 cores: 6000
// creates cost the loop 200 ms in submitting with 16 threads, 40 ms with 4, and the 1.1 GiB push
// took 8.5 s instead of 9.3 s (6 alternating pairs). Set before anything uses the pool, which is
// created lazily (module loading reads files through it).
process.env.UV_THREADPOOL_SIZE ??= String(Math.min(16, Math.max(4, 2 * (await import('node:os')).availableParallelism())));
// A run lives seconds: with V8's default budget its optimising compiler spends a fifth of the
// process's CPU on functions that run a few hundred times. Six times the budget leaves that to
// the truly hot loops (chunking, hashing, framing); measured on the next-day update: client CPU
// -9%, agent CPU -15%, no change to the 1.1 GiB push.
(await import('node:v8')).setFlagsFromString('--interrupt-budget=400000');
// `dsync agent` (the far end of a run, started over SSH) skips the CLI: it starts in half the time.
const main =
  process.argv[2] === 'agent'
    ? (await import('../dist/bundle/agent.js')).agentMain
    : (await import('../dist/bundle/main.js')).main;

// Until main settles, an emptied event loop means a bug (a promise nobody will settle): exit 70, never 0.
process.exitCode = 70;
let settled = false;
process.once('beforeExit', () => {
  // once: the write itself re-arms the event loop, and stderr may be a closed pipe
  if (!settled) process.stderr.write('dsync: error: internal error (please report it): the run stopped without a result\n', () => {});
});
main(process.argv).then((code) => {
  settled = true;
  process.exitCode = code;
  // The client leaves once its output is out: tearing down the heap and the hashing threads would
  // take another 20-30 ms. The agent ends by itself: its last frames may still be on their way.
  if (process.argv[2] !== 'agent') process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
});
