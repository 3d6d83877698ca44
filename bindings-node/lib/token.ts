/**
 * The inspect-safe Token (its secret never shows in `util.inspect`, `toString` or JSON).
 * Mirrors the Python package's `passmint.Token`.
 */

import { type NativeToken } from './native'

export const inspectCustom = Symbol.for('nodejs.util.inspect.custom')

/** Where a provider's tokens come from. */
export type ProviderKind = 'azure' | 'dsql' | 'rds' | 'gcp' | 'vault' | 'awssm' | 'file' | 'exec' | 'callback'

/**
 * A token and what is known about it (immutable: a warm cache hands every caller the same
 * object). `util.inspect`, `toString` and `JSON.stringify` leave the secret out.
 */
export class Token {
  readonly #secret: string
  readonly #expiresAtMs: number
  /** The database role it is for, when the provider knows it (Entra claims, the signed AWS user). */
  readonly username: string | null
  readonly provider: ProviderKind

  private constructor(native: NativeToken) {
    this.#secret = native.secret
    this.#expiresAtMs = native.expiresAt * 1000
    this.username = native.username ?? null
    this.provider = native.provider as ProviderKind
    Object.freeze(this)
  }

  /** @internal */
  static fromNative(native: NativeToken): Token {
    return new Token(native)
  }

  /** The password to send. */
  get secret(): string {
    return this.#secret
  }

  /** When the database stops accepting it for new logins (a new Date on each read). */
  get expiresAt(): Date {
    return new Date(this.#expiresAtMs)
  }

  toJSON(): { expiresAt: string; username: string | null; provider: string } {
    return { expiresAt: this.expiresAt.toISOString(), username: this.username, provider: this.provider }
  }

  toString(): string {
    return `Token(${this.provider}, username=${this.username ?? 'unknown'}, expiresAt=${this.expiresAt.toISOString()})`
  }

  [inspectCustom](): string {
    return this.toString()
  }
}

