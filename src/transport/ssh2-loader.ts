import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { SlabPool, SliceArena } from '../util/slab-pool.js';

type RandomFill = typeof crypto.randomFillSync;

/** Random bytes drawn from the system's generator at once, for fills of up to a quarter of it. */
export const POOL = 64 * 1024;

/**
 * A randomFillSync that serves small fills of byte arrays from a pool of bytes drawn `POOL` at a
 * time from `fill`: the same generator's output, each byte handed out once. Anything else (other
 * views, whose offsets count elements, bad ranges: `fill` throws for them) goes to `fill`.
 */
export function pooledRandomFill(fill: RandomFill): RandomFill {
  const pool = new Uint8Array(POOL);
  let at = POOL;
  return ((buf: Uint8Array, offset = 0, size = buf.length - offset) => {
    const small = buf instanceof Uint8Array && Number.isSafeInteger(offset) && Number.isSafeInteger(size) && offset >= 0 && size >= 0 && offset + size <= buf.length && size <= POOL / 4;
    if (!small) return fill(buf, offset, size);
    if (at + size > POOL) {
      fill(pool);
      at = 0;
    }
    new Uint8Array(buf.buffer, buf.byteOffset + offset, size).set(pool.subarray(at, at + size));
    at += size;
    return buf;
  }) as RandomFill;
}

/**
 * Where outgoing SSH packets are cut from (see poolPackets); a socket that writes one hands it
 * back once written (see coalescing-socket.ts). 1 MiB slabs, up to 32 kept: in a first copy the
 * socket held up to 23 MiB of packets at once, and with 8 kept the slabs over that were dropped
 * and allocated afresh, 23 in all (new memory is slow to come by: see SlabPool).
 */
export const packetArena = new SliceArena(new SlabPool(1024 * 1024, 32));

/** The parts of ssh2 that dsync uses. */
export interface Ssh2 {
  Client: typeof import('ssh2').Client;
  parseKey: typeof import('ssh2').utils.parseKey;
}

let loaded: Ssh2 | null = null;

/**
 * Load the ssh2 library, once, when a run first needs it. Only its client and key parser: its
 * index also loads its server, key generator and HTTP agents, and with them Node's http, https
 * and tls modules, 0.1 s of every run's start here before a single packet went out.
 *
 * ssh2 pads every SSH packet with its own randomFillSync call, one trip into OpenSSL's generator
 * (and its locks) for 4 to 19 bytes per 32 KiB packet: 0.4 s of the client's 4.5 s of CPU when it
 * pushed 1.1 GiB here. ssh2 takes the function from node:crypto as it loads, so it loads with the
 * pooled one in place; everything else keeps Node's, put back at once.
 */
export function loadSsh2(): Ssh2 {
  if (loaded) return loaded;
  const original = crypto.randomFillSync;
  const fill = pooledRandomFill(original);
  crypto.randomFillSync = fill;
  try {
    const require = createRequire(import.meta.url);
    poolPackets(require('ssh2/lib/protocol/crypto.js') as ProtocolCrypto, fill);
    const { parseKey } = require('ssh2/lib/protocol/keyParser.js') as Pick<Ssh2, 'parseKey'>;
    return (loaded = { Client: require('ssh2/lib/client.js') as Ssh2['Client'], parseKey });
  } finally {
    crypto.randomFillSync = original;
  }
}

interface ProtocolCrypto {
  bindingAvailable: boolean;
  createCipher: (config: { outbound: { cipherInfo: { sslName: string }; forceNative?: boolean } }) => { allocPacket: (payloadLen: number) => Buffer };
}

/**
 * ssh2 allocates a fresh buffer for every packet it sends, 32 KiB a packet of bulk data: Node
 * counts each as external memory, and V8 answered every ~64 MiB of them with a full garbage
 * collection (48 of them, 0.45 s of pauses, in the client's push of 1.1 GiB here). With AES-GCM
 * through ssh2's native binding (what it negotiates with OpenSSH where AES is in hardware), a
 * packet is sealed in place and written as it is, so it can be cut from `packetArena` instead and
 * handed back once the socket has written it. Patched where ssh2 makes its ciphers, before the
 * rest of ssh2 loads and takes the function; other ciphers keep ssh2's own buffers.
 */
function poolPackets(protocolCrypto: ProtocolCrypto, fill: RandomFill): void {
  const create = protocolCrypto.createCipher;
  if (typeof create !== 'function' || POOLED in create) return; // another ssh2, or done already
  protocolCrypto.createCipher = (config) => {
    const cipher = create(config);
    const gcm = config.outbound.cipherInfo.sslName.endsWith('-gcm');
    if (gcm && protocolCrypto.bindingAvailable && !config.outbound.forceNative) cipher.allocPacket = gcmPacket(fill);
    return cipher;
  };
  Object.defineProperty(protocolCrypto.createCipher, POOLED, { value: true });
}

const POOLED = Symbol('dsync pooled packets');

/**
 * ssh2's layout of an AES-GCM packet (RFC 5647: the 4-byte length goes in the clear as the AAD):
 * length, padding length, payload, 4 to 19 bytes of random padding to a multiple of 16, and room
 * for the 16-byte tag. The caller writes the payload at offset 5.
 */
function gcmPacket(fill: RandomFill): (payloadLen: number) => Buffer {
  return (payloadLen) => {
    let pktLen = 4 + 1 + payloadLen;
    let padLen = 16 - ((pktLen - 4) & 15);
    if (padLen < 4) padLen += 16;
    pktLen += padLen;
    const packet = packetArena.take(pktLen + 16);
    packet.writeUInt32BE(pktLen - 4, 0);
    packet[4] = padLen;
    fill(packet, 5 + payloadLen, padLen);
    return packet;
  };
}
