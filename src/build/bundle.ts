import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rolldown } from 'rolldown';

/**
 * `npm run build`, after tsc: dsync's own modules (not its dependencies) bundled into
 * dist/bundle/, one entry each for the CLI, the agent and the two workers (hashing, copying). Node's module
 * loader spent 40 ms of the agent's start and 55 ms of the client's on resolving and loading
 * ~70 small files one by one; every run pays both.
 */
const dist = fileURLToPath(new URL('../../', import.meta.url)); // this file is dist/src/build/bundle.js
const bundle = await rolldown({
  input: {
    main: path.join(dist, 'src/cli/main.js'),
    agent: path.join(dist, 'src/cli/agent-main.js'),
    'hash-worker': path.join(dist, 'src/chunker/hash-worker.js'), // next to the pool's code, as it expects
    'copy-worker': path.join(dist, 'src/util/copy-worker.js'),
  },
  platform: 'node',
  // Dependencies and Node's own modules stay imports: only relative paths are dsync's.
  external: (id) => !id.startsWith('.') && !path.isAbsolute(id),
});
rmSync(path.join(dist, 'bundle'), { recursive: true, force: true }); // chunks are named by content hash
await bundle.write({ dir: path.join(dist, 'bundle'), format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' });
await bundle.close();
