// A blocking NETLINK_ROUTE socket: one request at a time, replies matched by sequence number.
import {
  AF_NETLINK, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_ROUTE, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN,
  NLMSG_NOOP, NLMSG_OVERRUN, NLMSGERR_ATTR_MSG, NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP,
  NLM_F_DUMP_INTR, NLM_F_REQUEST, MSG_PEEK, MSG_TRUNC, SOCK_CLOEXEC, SOCK_RAW, SOL_NETLINK, SOL_SOCKET,
  SO_RCVBUF, SO_RCVBUFFORCE, SO_RCVTIMEO, SO_SNDBUF,
} from './constants.js';
import { align4, attrString, parseAttrs } from './attributes.js';
import { lastErrno, libc } from './libc.js';
import { NetlinkError } from '../netlink-error.js';

export interface NlMessage {
  type: number;
  flags: number;
  /** The message body after nlmsghdr (shares memory with the receive buffer: copy before the next call). */
  payload: Buffer;
}

const EINTR = 4;
const EAGAIN = 11;
const RCVBUF = 4 * 1024 * 1024;
const RECV_TIMEOUT_S = 10;
const DUMP_RETRIES = 5;

/** sockaddr_nl of the kernel (pid 0). */
const NETLINK_KERNEL_ADDR = (() => {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  return b;
})();

function intOpt(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(v);
  return b;
}

export class NetlinkSocket {
  private fd: number;
  private seq: number;
  private rx = Buffer.alloc(64 * 1024);
  readonly portId: number;

  /** Creates the socket in the calling thread's current netns (see Netlink.open for another netns). */
  constructor() {
    const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw NetlinkError.fromErrno('open NETLINK_ROUTE socket', lastErrno());
    this.fd = fd;
    try {
      // Large receive buffer for dumps; FORCE works as root and ignores rmem_max, plain is the fallback.
      if (libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, intOpt(RCVBUF), 4) !== 0) {
        libc.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, intOpt(RCVBUF), 4);
      }
      libc.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, intOpt(1024 * 1024), 4);
      // Extended acks carry the kernel's error text; capped acks do not echo our request back.
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, intOpt(1), 4);
      libc.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, intOpt(1), 4);
      // Never hang the event loop forever if the kernel does not answer.
      const tv = Buffer.alloc(16);
      tv.writeBigInt64LE(BigInt(RECV_TIMEOUT_S), 0);
      libc.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(AF_NETLINK, 0);
      if (libc.bind(fd, addr, 12) !== 0) throw NetlinkError.fromErrno('bind NETLINK_ROUTE socket', lastErrno());
      const len = Buffer.alloc(4);
      len.writeUInt32LE(12);
      if (libc.getsockname(fd, addr, len) !== 0) throw NetlinkError.fromErrno('getsockname NETLINK_ROUTE socket', lastErrno());
      this.portId = addr.readUInt32LE(4);
    } catch (e) {
      libc.close(fd);
      throw e;
    }
    this.seq = (Math.floor(Date.now() / 1000) ^ (process.pid << 8)) >>> 0;
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  close(): void {
    if (this.fd >= 0) libc.close(this.fd);
    this.fd = -1;
  }

  /**
   * Sends one request with NLM_F_REQUEST|NLM_F_ACK|flags and returns the messages the kernel sent
   * before its ack (e.g. the reply of a GET). Throws NetlinkError for an NLMSG_ERROR.
   */
  request(op: string, type: number, flags: number, body: Buffer): NlMessage[] {
    const seq = this.send(op, type, NLM_F_REQUEST | NLM_F_ACK | flags, body);
    return this.receive(op, seq, false).messages;
  }

  /** A dump (NLM_F_DUMP): every part until NLMSG_DONE; retried when the kernel flags it interrupted. */
  dump(op: string, type: number, body: Buffer): NlMessage[] {
    for (let attempt = 1; ; attempt++) {
      const seq = this.send(op, type, NLM_F_REQUEST | NLM_F_DUMP, body);
      const r = this.receive(op, seq, true);
      if (!r.interrupted) return r.messages;
      if (attempt >= DUMP_RETRIES) {
        throw new NetlinkError({
          operation: op,
          code: 'NETLINK_DUMP_INTERRUPTED',
          detail: `the dump changed under us ${DUMP_RETRIES} times`,
          hint: 'something is changing this table very fast: retry later',
        });
      }
    }
  }

  /** Frames one request (nlmsghdr + body) with the next sequence number. */
  private frame(op: string, type: number, flags: number, body: Buffer): { msg: Buffer; len: number; seq: number } {
    if (this.fd < 0) {
      throw new NetlinkError({ operation: op, code: 'NETLINK_CLOSED', detail: 'socket is closed', hint: 'open a new Netlink handle' });
    }
    this.seq = (this.seq + 1) >>> 0;
    const len = NLMSG_HDRLEN + body.length;
    const msg = Buffer.alloc(align4(len));
    msg.writeUInt32LE(len, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags, 6);
    msg.writeUInt32LE(this.seq, 8);
    msg.writeUInt32LE(this.portId, 12);
    body.copy(msg, NLMSG_HDRLEN);
    return { msg, len, seq: this.seq };
  }

  private send(op: string, type: number, flags: number, body: Buffer): number {
    const { msg, len, seq } = this.frame(op, type, flags, body);
    for (;;) {
      const n = libc.sendto(this.fd, msg, len, 0, NETLINK_KERNEL_ADDR, 12);
      if (n === len) return seq;
      const errno = n < 0 ? lastErrno() : 0;
      if (errno === EINTR) continue;
      if (n >= 0) throw new NetlinkError({ operation: op, code: 'NETLINK_PROTOCOL', detail: `short send (${n} of ${len})`, hint: 'retry' });
      throw NetlinkError.fromErrno(`${op}: send`, errno);
    }
  }

  /**
   * request() with the send (where rtnetlink does the work) on a worker thread, so a slow request does
   * not hold the event loop. Use a socket of its own: replies to other requests on it would be skipped.
   */
  async requestAsync(op: string, type: number, flags: number, body: Buffer): Promise<NlMessage[]> {
    const { msg, len, seq } = this.frame(op, type, NLM_F_REQUEST | NLM_F_ACK | flags, body);
    const n = await libc.sendtoAsync(this.fd, msg, len, 0, NETLINK_KERNEL_ADDR, 12);
    if (n !== len) {
      // errno stayed on the worker thread; the synchronous path reports it properly.
      this.send(op, type, NLM_F_REQUEST | NLM_F_ACK | flags, body);
      return this.receive(op, this.seq, false).messages;
    }
    return this.receive(op, seq, false).messages;
  }

  private recvDatagram(op: string): number {
    for (;;) {
      // Peek at the real size first so that no datagram is ever truncated.
      let n = libc.recv(this.fd, this.rx, 0, MSG_PEEK | MSG_TRUNC);
      if (n >= 0 && n > this.rx.length) this.rx = Buffer.alloc(align4(n) * 2);
      if (n >= 0) n = libc.recv(this.fd, this.rx, this.rx.length, 0);
      if (n >= 0) return n;
      const errno = lastErrno();
      if (errno === EINTR) continue;
      if (errno === EAGAIN) {
        throw new NetlinkError({
          operation: op,
          code: 'NETLINK_TIMEOUT',
          errno,
          detail: `no answer from the kernel within ${RECV_TIMEOUT_S}s`,
          hint: 'the kernel did not answer: retry; if it persists, inspect the netns with `ip`',
        });
      }
      throw NetlinkError.fromErrno(`${op}: recv`, errno);
    }
  }

  private receive(op: string, seq: number, isDump: boolean): { messages: NlMessage[]; interrupted: boolean } {
    const messages: NlMessage[] = [];
    let interrupted = false;
    for (;;) {
      const n = this.recvDatagram(op);
      const buf = this.rx;
      let off = 0;
      while (off + NLMSG_HDRLEN <= n) {
        const len = buf.readUInt32LE(off);
        const type = buf.readUInt16LE(off + 4);
        const flags = buf.readUInt16LE(off + 6);
        const mseq = buf.readUInt32LE(off + 8);
        if (len < NLMSG_HDRLEN || off + len > n) {
          throw new NetlinkError({ operation: op, code: 'NETLINK_PROTOCOL', detail: `malformed message (len ${len})`, hint: 'report this: the kernel reply did not parse' });
        }
        const payload = buf.subarray(off + NLMSG_HDRLEN, off + len);
        off += align4(len);
        if (mseq !== seq) continue; // a late answer to an earlier request: not ours
        if (flags & NLM_F_DUMP_INTR) interrupted = true;
        if (type === NLMSG_NOOP) continue;
        if (type === NLMSG_OVERRUN) {
          throw new NetlinkError({ operation: op, code: 'NETLINK_PROTOCOL', detail: 'overrun', hint: 'retry' });
        }
        if (type === NLMSG_ERROR) {
          const err = payload.length >= 4 ? -payload.readInt32LE(0) : 0;
          if (err === 0 && !isDump) return { messages, interrupted };
          if (err !== 0) throw NetlinkError.fromErrno(op, err, extAckMessage(payload, flags));
          continue;
        }
        if (type === NLMSG_DONE) {
          const err = payload.length >= 4 ? -payload.readInt32LE(0) : 0;
          if (err > 0) throw NetlinkError.fromErrno(op, err, extAckMessage(payload, flags, 4));
          if (isDump) return { messages, interrupted };
          continue;
        }
        messages.push({ type, flags, payload: Buffer.from(payload) });
      }
    }
  }
}

/** NLMSGERR_ATTR_MSG from an error/done payload, when the kernel attached extended-ack TLVs. */
function extAckMessage(payload: Buffer, flags: number, tlvOffset?: number): string | undefined {
  if (!(flags & NLM_F_ACK_TLVS)) return undefined;
  let off = tlvOffset;
  if (off === undefined) {
    // struct nlmsgerr { int error; struct nlmsghdr msg; } then, unless capped, the request's payload.
    off = 4 + NLMSG_HDRLEN;
    if (!(flags & NLM_F_CAPPED) && payload.length >= 4 + NLMSG_HDRLEN) off = 4 + align4(payload.readUInt32LE(4));
  }
  if (off > payload.length) return undefined;
  return attrString(parseAttrs(payload, off).get(NLMSGERR_ATTR_MSG));
}
