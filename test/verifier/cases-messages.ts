/**
 * Cases for rejection messages no other case or fixture produces, one or
 * more per message, so that every message src/verifier can emit is checked
 * against tsbpf and (through kernel-agreement.test.ts) the running kernel.
 * test/verifier/messages.test.ts fails for a message still without one.
 */
import type { VerifierCase } from './cases.ts';
import { MESSAGE_CASES_ACCESS } from './cases-messages-access.ts';
import { MESSAGE_CASES_PROGRAM } from './cases-messages-program.ts';

export const MESSAGE_CASES: VerifierCase[] = [...MESSAGE_CASES_ACCESS, ...MESSAGE_CASES_PROGRAM];
