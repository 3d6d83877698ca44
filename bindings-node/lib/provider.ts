/**
 * `Provider`: the core's provider, its cache hits answered on the JS thread. Mirrors the Python
 * package's `passmint.Provider`.
 */

import { NativeProvider, type NativeToken, type Failure } from './native'
import { invalid, rethrown, settled, translated, requireString, type ErrorCode } from './errors'
import { trampoline, type TokenFunction } from './callback'
import { Token, type ProviderKind, inspectCustom } from './token'

/** {@link Provider.status}: times in unix seconds, absent values `null`. */
export interface ProviderStatus {
  cached: boolean
  expiresAt: number | null
  nextRefreshAt: number | null
  consecutiveFailures: number
  lastErrorKind: ErrorCode | null
  lastErrorMessage: string | null
  credential: string | null
}

/** @internal Lets the builders hand a native provider to the constructor. */
export const ADOPT = Symbol('adopt')

/**
 * A configured source of tokens with its own cache. Build one per database target and share it:
 * concurrent callers on a cold cache cause one identity request, tokens are refreshed ahead of
 * expiry in the background, and a failed refresh keeps serving the still-valid token.
 */
export class Provider {
  readonly #native: NativeProvider
  // The JS copies of the token the native side last called fresh (see freshId in provider.rs).
  #id = 0
  #secret = ''
  #info: Token | undefined

  /**
   * The token as a bound `() => Promise<string>`, for node-postgres `password:`, Postgres.js
   * `pass:`, Knex `connection.password` and Prisma's pg adapter.
   */
  readonly password: () => Promise<string>

  /** A provider from a URL: `azure://…`, `dsql://…`, `rds://…` (see the README). */
  constructor(url: string)
  /** @internal */
  constructor(url: typeof ADOPT, native: NativeProvider)
  constructor(url: string | typeof ADOPT, native?: NativeProvider) {
    if (url === ADOPT && native !== undefined) {
      this.#native = native
    } else {
      const text = requireString(url, 'the provider URL')
      try {
        this.#native = new NativeProvider(text)
      } catch (e) {
        throw translated(e)
      }
    }
    this.password = () => this.token()
  }

  /**
   * A provider over a function of yours, sync or async, returning `{ token, expiresAt, username? }`
   * (`expiresAt` in unix seconds or a Date). It gets every provider's cache rules: one call for any
   * number of concurrent cold callers, refresh ahead of expiry, the cached token served while
   * refreshes fail, and the 10 s deadline. What it throws reaches callers with its message, as
   * `PASSMINT_PROVIDER_RESPONSE` unless it threw a PassmintError.
   */
  static fromFunction(fn: TokenFunction): Provider {
    if (typeof fn !== 'function') throw invalid(`fromFunction needs a function, not ${fn === null ? 'null' : typeof fn}`)
    try {
      return new Provider(ADOPT, NativeProvider.fromFunction(trampoline(fn), `token callback (${fn.name || 'anonymous'})`))
    } catch (e) {
      throw translated(e)
    }
  }

  /** The provider a PostgreSQL URL's host implies (Azure, DSQL or RDS), with its user and port. */
  static forPostgresUrl(url: string): Provider {
    const text = requireString(url, 'the PostgreSQL URL')
    try {
      return new Provider(ADOPT, NativeProvider.forPostgresUrl(text))
    } catch (e) {
      throw translated(e)
    }
  }

  get kind(): ProviderKind {
    return this.#native.kind as ProviderKind
  }

  /**
   * This provider's health, without fetching: whether a token is cached, when it expires and is
   * next refreshed (unix seconds), failed refreshes since the last good one and the last error,
   * and the credential in use. `consecutiveFailures > 0` while `cached` is true means refreshes
   * are failing and the cached token is still served: alert before `expiresAt`.
   */
  status(): ProviderStatus {
    const s = this.#native.status()
    return {
      cached: s.cached,
      expiresAt: s.expiresAt ?? null,
      nextRefreshAt: s.nextRefreshAt ?? null,
      consecutiveFailures: s.consecutiveFailures,
      lastErrorKind: (s.lastErrorKind ?? null) as ErrorCode | null,
      lastErrorMessage: s.lastErrorMessage ?? null,
      credential: s.credential ?? null,
    }
  }

  /** The role the provider URL named, if any (see {@link Token.username} for the token's). */
  get username(): string | null {
    return this.#native.username ?? null
  }

  /**
   * Where to get the CA bundle drivers need to verify this provider's servers (RDS, Aurora: pass it
   * as `ssl: { ca }`); `null` when they chain to public roots (Azure, DSQL: Node's bundled roots).
   */
  get serverCaBundle(): string | null {
    return this.#native.serverCaBundle ?? null
  }

  /**
   * The current token. A cache hit resolves on this thread at once; a fetch runs on passmint's
   * own threads, never blocking the event loop, and rejects with a PassmintError (`PASSMINT_TIMEOUT`
   * after the 10 s deadline).
   */
  token(): Promise<string> {
    try {
      const cached = this.#cachedSecret()
      if (cached !== undefined) return Promise.resolve(cached)
      return this.#native.tokenAsync().then(settled<string>, rethrown)
    } catch (e) {
      return Promise.reject(translated(e))
    }
  }

  /** {@link Provider.token} with the expiry, username and provider kind (the same object while the token is). */
  tokenInfo(): Promise<Token> {
    try {
      const cached = this.#cachedInfo()
      if (cached !== undefined) return Promise.resolve(cached)
      return this.#native.infoAsync().then((outcome: NativeToken | Failure) => Token.fromNative(settled<NativeToken>(outcome)), rethrown)
    } catch (e) {
      return Promise.reject(translated(e))
    }
  }

  /** The current token, blocking the thread on a cache miss (up to the deadline). Prefer {@link Provider.token}. */
  tokenSync(): string {
    try {
      const cached = this.#cachedSecret()
      if (cached !== undefined) return cached
      return this.#native.tokenSync()
    } catch (e) {
      throw translated(e)
    }
  }

  /** {@link Provider.tokenSync} with the expiry, username and provider kind. */
  tokenInfoSync(): Token {
    try {
      const cached = this.#cachedInfo()
      if (cached !== undefined) return cached
      return Token.fromNative(this.#native.infoSync())
    } catch (e) {
      throw translated(e)
    }
  }

  /** The fresh cached token's secret, copied out of the native side only when the token changed. */
  #cachedSecret(): string | undefined {
    const id = this.#native.freshId()
    if (id === 0) return undefined
    if (id !== this.#id) this.#remember(id)
    return this.#secret
  }

  #cachedInfo(): Token | undefined {
    const id = this.#native.freshId()
    if (id === 0) return undefined
    if (id !== this.#id) this.#remember(id)
    this.#info ??= Token.fromNative(this.#native.lastInfo()!)
    return this.#info
  }

  #remember(id: number): void {
    this.#secret = this.#native.lastSecret()!
    this.#info = undefined
    this.#id = id
  }

  toString(): string {
    return `Provider(${this.kind}${this.username ? `, user=${this.username}` : ''})`
  }

  [inspectCustom](): string {
    return this.toString()
  }
}

