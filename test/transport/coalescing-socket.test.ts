import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { connectCoalescing } from '../../src/transport/coalescing-socket.js';
import { packetArena } from '../../src/transport/ssh2-loader.js';

/** A local server that keeps what it receives, and a coalescing socket connected to it. */
async function connected(): Promise<{ sock: net.Socket; received: Buffer[]; close: () => void }> {
  const received: Buffer[] = [];
  const server = net.createServer((s) => s.on('data', (d: Buffer) => received.push(d)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sock = connectCoalescing('127.0.0.1', (server.address() as net.AddressInfo).port);
  await new Promise((resolve) => sock.once('connect', resolve));
  return { sock, received, close: () => (sock.destroy(), server.close()) };
}

describe('connectCoalescing', () => {
  it('holds the writes of one synchronous stretch back and sends them together, in order', async () => {
    const { sock, received, close } = await connected();
    const pieces = Array.from({ length: 50 }, (_, i) => Buffer.alloc(7, i));
    for (const p of pieces) sock.write(p);
    // Still corked within this synchronous stretch: nothing has been handed to the kernel yet.
    expect(sock.writableCorked).toBe(1);
    expect(sock.writableLength).toBe(50 * 7);
    await Promise.resolve(); // one microtask later, they leave together
    expect(sock.writableCorked).toBe(0);
    const expected = Buffer.concat(pieces);
    for (let i = 0; i < 100 && Buffer.concat(received).length < expected.length; i++) await new Promise((r) => setTimeout(r, 10));
    expect(Buffer.concat(received).equals(expected)).toBe(true);
    close();
  });

  it('does not hold a write back behind a long chain of awaits', async () => {
    const { sock, close } = await connected();
    sock.write(Buffer.from('first'));
    let corkedDuring = 0;
    for (let i = 0; i < 1000; i++) {
      await Promise.resolve(); // a busy async loop that never yields to the event loop
      corkedDuring = Math.max(corkedDuring, i > 0 ? sock.writableCorked : 0);
    }
    expect(corkedDuring).toBe(0); // released after the first await, not after the whole loop
    expect(sock.writableLength).toBe(0);
    close();
  });

  it('hands a packet cut from the arena back once it has been written, not before, and keeps a caller\'s own callback', async () => {
    const { sock, received, close } = await connected();
    const packets = [1, 2, 3].map((i) => packetArena.take(1000).fill(i));
    const handedBack: number[] = [];
    const releaseOf = packetArena.releaseOf;
    packetArena.releaseOf = (b) => (packets.includes(b as Buffer) ? () => void handedBack.push(b[0]!) : releaseOf.call(packetArena, b));
    try {
      for (const p of packets) sock.write(p);
      let own = false;
      sock.write(Buffer.from('own'), () => (own = true));
      expect(handedBack).toEqual([]); // still queued
      for (let i = 0; i < 100 && !own; i++) await new Promise((r) => setTimeout(r, 10));
      expect(handedBack).toEqual([1, 2, 3]);
      expect(own).toBe(true);
      for (let i = 0; i < 100 && Buffer.concat(received).length < 3003; i++) await new Promise((r) => setTimeout(r, 10));
      expect(Buffer.concat(received).equals(Buffer.concat([...packets, Buffer.from('own')]))).toBe(true);
    } finally {
      packetArena.releaseOf = releaseOf;
      close();
    }
  });

  it('reports a refused connection as an error event, as net.connect does', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => connectCoalescing('127.0.0.1', port).once('error', resolve));
    expect(err.code).toBe('ECONNREFUSED');
  });
});
