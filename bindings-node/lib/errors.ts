/**
 * passmint's error class and the translation of the native module's failures into it
 * (docs/DESIGN.md §6). Mirrors the Python package's `passmint/errors.py`.
 */

import { type Failure, errorKinds } from './native'

/** The C status names (docs/DESIGN.md §6): the `.code` of every {@link PassmintError}. */
export type ErrorCode =
  | 'PASSMINT_INVALID_ARGUMENT'
  | 'PASSMINT_INVALID_CONFIG'
  | 'PASSMINT_CREDENTIAL_UNAVAILABLE'
  | 'PASSMINT_AUTHENTICATION_FAILED'
  | 'PASSMINT_TIMEOUT'
  | 'PASSMINT_NETWORK'
  | 'PASSMINT_PROVIDER_RESPONSE'
  | 'PASSMINT_PANIC'
  | 'PASSMINT_INTERNAL'

/** Every failure passmint reports. Messages say what was tried and what to do; never a secret. */
export class PassmintError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'PassmintError'
    this.code = code
  }
}

/** Every `.code` the core can report: `PASSMINT_` + its kinds, from the core's own table. */
const CODES = new Set<string>(errorKinds().map((kind) => `PASSMINT_${kind}`))

/** A native throw as a PassmintError (anything else from the native layer is INTERNAL). */
export function translated(e: unknown): PassmintError {
  if (e instanceof PassmintError) return e
  const { code, message } = (typeof e === 'object' && e !== null ? e : { message: String(e) }) as {
    code?: unknown
    message?: unknown
  }
  const text = typeof message === 'string' ? message : String(e)
  return typeof code === 'string' && CODES.has(code)
    ? new PassmintError(code as ErrorCode, text)
    : new PassmintError('PASSMINT_INTERNAL', `passmint's native module failed: ${text}`)
}

export function settled<T>(outcome: T | Failure): T {
  if (typeof outcome === 'object' && outcome !== null && 'code' in outcome && 'message' in outcome) {
    throw translated(outcome)
  }
  return outcome as T
}

export function rethrown(e: unknown): never {
  throw translated(e)
}

export function invalid(message: string): PassmintError {
  return new PassmintError('PASSMINT_INVALID_ARGUMENT', message)
}

export function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, not ${value === null ? 'null' : typeof value}`)
  return value
}

