// The few libc calls the package needs, bound through koffi. Everything else (open/close of netns
// files, /proc/sys writes) uses node:fs's synchronous calls, which run on the calling thread.
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

type Fn<A extends unknown[]> = (...args: A) => number;

const sendtoFn = lib.func('long sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t alen)');

export const libc = {
  socket: lib.func('int socket(int domain, int type, int protocol)') as Fn<[number, number, number]>,
  bind: lib.func('int bind(int fd, void *addr, uint32_t len)') as Fn<[number, Buffer, number]>,
  getsockname: lib.func('int getsockname(int fd, void *addr, void *len)') as Fn<[number, Buffer, Buffer]>,
  setsockopt: lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as Fn<
    [number, number, number, Buffer, number]
  >,
  sendto: sendtoFn as Fn<[number, Buffer, number, number, Buffer, number]>,
  /**
   * sendto(2) on a libuv worker thread. rtnetlink does a request's work inside sendmsg, so a slow
   * request (a veth delete waits for the kernel's teardown) runs off the event loop this way. errno is
   * not available (it belongs to the worker thread): a failed send resolves to a negative count.
   */
  sendtoAsync: (fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, alen: number): Promise<number> =>
    new Promise((resolve, reject) => {
      sendtoFn.async(fd, buf, len, flags, addr, alen, (err: unknown, n: number) => (err ? reject(err) : resolve(Number(n))));
    }),
  recv: lib.func('long recv(int fd, void *buf, size_t len, int flags)') as Fn<[number, Buffer, number, number]>,
  close: lib.func('int close(int fd)') as Fn<[number]>,
  setns: lib.func('int setns(int fd, int nstype)') as Fn<[number, number]>,
  unshare: lib.func('int unshare(int flags)') as Fn<[number]>,
  mount: lib.func('int mount(const char *src, const char *target, const char *fstype, unsigned long flags, void *data)') as Fn<
    [string | null, string, string | null, number, null]
  >,
  strerror: lib.func('const char *strerror(int errnum)') as unknown as (errnum: number) => string,
  umount2: lib.func('int umount2(const char *target, int flags)') as Fn<[string, number]>,
};

/** errno of the last failed libc call made through koffi on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}
