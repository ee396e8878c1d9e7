/** Negative errno values helpers return, as the kernel's helpers do. */
export const ENOENT = -2;
export const E2BIG = -7;
export const EACCES = -13;
export const EFAULT = -14;
export const EBUSY = -16;
export const EINVAL = -22;
export const ERANGE = -34;
export const EOPNOTSUPP = -95;
/** The kernel-internal ENOTSUPP (524) that some helpers leak to programs. */
export const ENOTSUPP = -524;
