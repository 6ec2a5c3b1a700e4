import net from 'node:net';
import { packetArena } from './ssh2-loader.js';

/**
 * Connect a TCP socket that gathers the writes of one synchronous stretch of code into a single
 * writev. ssh2 writes each SSH packet as three or four pieces (length, ciphertext, tag), each its
 * own syscall and TCP segment without this; bulk data then costs the client, the kernel and sshd
 * a multiple of what it needs. The writes leave at the next microtask, not the next tick: a long
 * chain of awaits (a manifest being encoded) must not hold back a message written at its start.
 * Connection errors arrive as 'error' events, as with net.connect.
 */
export function connectCoalescing(host: string, port: number): net.Socket {
  const sock = net.connect({ host, port, noDelay: true });
  // Patched on the instance after connect(), which resets `write` to the prototype's.
  const write = sock.write;
  let corked = false;
  sock.write = function (this: net.Socket, ...args: Parameters<typeof write>) {
    if (!corked) {
      corked = true;
      this.cork();
      queueMicrotask(() => {
        corked = false;
        this.uncork();
      });
    }
    // A packet cut from ssh2-loader's arena goes back to it once written (ssh2 passes no callback).
    const release = args.length === 1 && args[0] instanceof Uint8Array ? packetArena.releaseOf(args[0]) : undefined;
    if (release) return (write as (...a: unknown[]) => boolean).call(this, args[0], () => release());
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  return sock;
}
