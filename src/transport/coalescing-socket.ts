import net from 'node:net';

/**
 * Connect a TCP socket that gathers every write made in one tick into a single writev. ssh2
 * writes each SSH packet as three or four pieces (length, ciphertext, tag), each its own syscall
 * and TCP segment without this; bulk data (32 KiB packets, several per tick) then costs the
 * client, the kernel and sshd a multiple of what it needs. Connection errors arrive as 'error'
 * events, as with net.connect.
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
      process.nextTick(() => {
        corked = false;
        this.uncork();
      });
    }
    return (write as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof write;
  return sock;
}
