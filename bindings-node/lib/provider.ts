/**
 * `Provider`: the core's provider, its cache hits answered on the JS thread. Mirrors the Python
 * package's `passmint.Provider`.
 */

import { NativeProvider, azureScope, type NativeToken, type Failure } from './native'
import { PassmintError, invalid, rethrown, settled, translated, requireString, type ErrorCode } from './errors'
import { trampoline, type TokenAnswer, type TokenFunction } from './callback'
import { Token, type ProviderKind, inspectCustom } from './token'

/** What passmint uses of an `@azure/identity` `TokenCredential`. */
export interface AzureTokenCredential {
  getToken(scopes: string | string[]): Promise<{ token: string, expiresOnTimestamp: number } | null>
}

/** What passmint uses of an `AbortSignal` (Node's global one, or any with this shape). */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason?: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/** Options of {@link Provider.token} and {@link Provider.tokenInfo}. */
export interface TokenOptions {
  /** Ends this caller's wait when aborted; the shared fetch goes on for other callers. */
  signal?: AbortSignalLike
}

/** `outcome`, or the signal's reason as soon as it aborts. */
function abortable<T>(outcome: Promise<T>, signal: AbortSignalLike): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    outcome.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error) },
    )
  })
}

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

/** Options of the URL constructors (`new Provider(url, options)`, `forPostgresUrl`, `fromEnv`). */
export interface ProviderOptions {
  /**
   * Share tokens with this user's other processes on this host (cluster workers, PM2): one
   * identity request per token lifetime for all of them. Default: the URL's `shared_cache`, else
   * `PASSMINT_SHARED_CACHE`; `PASSMINT_SHARED_CACHE=0` keeps it off.
   */
  sharedCache?: boolean
}

function shared(native: NativeProvider, options: ProviderOptions | undefined): NativeProvider {
  const on = options?.sharedCache
  if (on === undefined) return native
  if (typeof on !== 'boolean') throw invalid('sharedCache must be true or false')
  return native.withSharedCache(on)
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

  /** A provider from a URL: `azure://…`, `dsql://…`, `rds://…`, `gcp://…` (see the README). */
  constructor(url: string, options?: ProviderOptions)
  /** @internal */
  constructor(url: typeof ADOPT, native: NativeProvider)
  constructor(url: string | typeof ADOPT, native?: NativeProvider | ProviderOptions) {
    if (url === ADOPT && native instanceof NativeProvider) {
      this.#native = native
    } else {
      const text = requireString(url, 'the provider URL')
      try {
        this.#native = shared(new NativeProvider(text), native as ProviderOptions | undefined)
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

  /**
   * A provider over an `@azure/identity` credential you already have (any `TokenCredential`): it asks
   * for the Azure Database for PostgreSQL scope of `cloud` (`'public'`, `'usgov'`, `'china'`), and the
   * role is `user`, else the token's claims, as for `azure://`. Its tokens are `azure` tokens.
   */
  static fromAzureCredential(credential: AzureTokenCredential, options: { cloud?: string, user?: string } = {}): Provider {
    if (typeof credential?.getToken !== 'function') throw invalid('fromAzureCredential needs an @azure/identity TokenCredential')
    try {
      const scope = azureScope(options.cloud ?? 'public')
      const fn = async (): Promise<TokenAnswer> => {
        const t = await credential.getToken(scope)
        if (t === null || t === undefined) throw new PassmintError('PASSMINT_CREDENTIAL_UNAVAILABLE', 'the Azure credential returned no token')
        return { token: t.token, expiresAt: Math.floor(t.expiresOnTimestamp / 1000) }
      }
      const name = `@azure/identity ${(credential as { constructor?: { name?: string } }).constructor?.name ?? 'credential'}`
      return new Provider(ADOPT, NativeProvider.fromAzureFunction(trampoline(fn), name, options.user ?? null))
    } catch (e) {
      throw translated(e)
    }
  }

  /** The provider a PostgreSQL URL's host implies (Azure, DSQL or RDS), with its user and port. */
  static forPostgresUrl(url: string, options?: ProviderOptions): Provider {
    const text = requireString(url, 'the PostgreSQL URL')
    try {
      return new Provider(ADOPT, shared(NativeProvider.forPostgresUrl(text), options))
    } catch (e) {
      throw translated(e)
    }
  }

  /** Whether the shared token cache is under this provider's own. */
  get sharedCache(): boolean {
    return this.#native.sharedCache
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
  /** Drops the cached token, so the next call fetches a new one: for a secret rotated early. */
  invalidate(): void {
    this.#native.invalidate()
  }

  /**
   * A server refused `password` (`password authentication failed`). For the sources whose
   * secrets rotate early (vault, awssm, file, exec) the cached token is dropped if it is still
   * that one and the answer is true: connect again once. For IAM tokens, false: a retry would
   * only hide a wrong role or policy.
   */
  passwordRefused(password: string): boolean {
    return this.#native.passwordRefused(password)
  }

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

  /**
   * The database host tokens are signed for (DSQL, RDS): a DSQL cluster id given with a region comes
   * back as its endpoint, so `postgres({ host: provider.host, pass: provider.password })` needs no
   * string building. `null` for Azure and callbacks.
   */
  get host(): string | null {
    return this.#native.host ?? null
  }

  /** The provider `PASSMINT_PROVIDER` names (a provider URL), as Python's `Provider.from_env()`. */
  static fromEnv(options?: ProviderOptions): Provider {
    try {
      return new Provider(ADOPT, shared(NativeProvider.fromEnv(), options))
    } catch (e) {
      throw translated(e)
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
   * after the 10 s deadline). `signal` ends this caller's wait when it aborts (the promise rejects
   * with the signal's reason); the fetch goes on for the provider's other callers.
   */
  token(options?: TokenOptions): Promise<string> {
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(signal.reason)
    let outcome: Promise<string>
    try {
      const cached = this.#cachedSecret()
      if (cached !== undefined) return Promise.resolve(cached)
      outcome = this.#native.tokenAsync().then(settled<string>, rethrown)
    } catch (e) {
      return Promise.reject(translated(e))
    }
    return signal === undefined ? outcome : abortable(outcome, signal)
  }

  /** {@link Provider.token} with the expiry, username and provider kind (the same object while the token is). */
  tokenInfo(options?: TokenOptions): Promise<Token> {
    const signal = options?.signal
    if (signal?.aborted) return Promise.reject(signal.reason)
    let outcome: Promise<Token>
    try {
      const cached = this.#cachedInfo()
      if (cached !== undefined) return Promise.resolve(cached)
      outcome = this.#native.infoAsync().then((out: NativeToken | Failure) => Token.fromNative(settled<NativeToken>(out)), rethrown)
    } catch (e) {
      return Promise.reject(translated(e))
    }
    return signal === undefined ? outcome : abortable(outcome, signal)
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

