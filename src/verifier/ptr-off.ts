import { Rejection } from './errors.ts';
import { regTypeName } from './log.ts';
import { scalarIsZero, scalarVarOffString } from './scalar.ts';
import type { Reg } from './state.ts';

/**
 * __check_ptr_off_reg: a pointer dereferenced or passed where the kernel
 * needs it unmodified (the context, a helper's or kfunc's object argument).
 * A negative fixed offset is refused first, then any fixed offset unless
 * `fixedOffOk`, then a variable one: the kernel's order, and its messages.
 */
export function checkPtrOffReg(idx: number, regno: number, reg: Reg, fixedOffOk: boolean): void {
  const type = regTypeName(reg.type);
  if (reg.off < 0) throw new Rejection(idx, `negative offset ${type} ptr R${regno} off=${reg.off} disallowed`);
  if (!fixedOffOk && reg.off !== 0) throw new Rejection(idx, `dereference of modified ${type} ptr R${regno} off=${reg.off} disallowed`);
  if (!scalarIsZero(reg.v)) throw new Rejection(idx, `variable ${type} access var_off=${scalarVarOffString(reg.v)} disallowed`);
}
