/** Errno names for the values the VMM meets (asm-generic/errno-base.h, errno.h). */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 4: 'EINTR', 5: 'EIO', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES',
  14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE', 25: 'ENOTTY',
  28: 'ENOSPC', 38: 'ENOSYS', 95: 'EOPNOTSUPP', 7: 'E2BIG', 6: 'ENXIO', 21: 'EISDIR', 20: 'ENOTDIR',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `errno ${errno}`;
}

/** A failed system call: `code` is the errno name (EINTR, EAGAIN, ...), as Node's own errors do. */
export class SysError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
  constructor(errno: number, syscall: string) {
    super(`${syscall}: ${errnoName(errno)}`);
    this.name = 'SysError';
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
  }
}
