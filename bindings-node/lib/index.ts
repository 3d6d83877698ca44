/**
 * passmint: short-lived PostgreSQL passwords from cloud identity (Entra ID, Aurora DSQL, RDS IAM).
 *
 * ```js
 * const { Provider } = require('passmint')
 * const p = Provider.forPostgresUrl('postgresql://app@mydb.postgres.database.azure.com/app')
 * new pg.Pool({ host, user: 'app', password: p.password, ssl: { rejectUnauthorized: true } })
 * ```
 *
 * This file only translates: the native module (the Rust core) owns the cache, single-flight,
 * refresh-ahead and deadlines. Here live the error class, the inspect-safe Token, the typed
 * constructors (which only build a provider URL) and the driver helpers.
 *
 * @packageDocumentation
 */

import { NativeProvider, type NativeToken, type Failure, nativeVersion } from './native'

/** The C status names (DESIGN §6): the `.code` of every {@link PassmintError}. */
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

const inspectCustom = Symbol.for('nodejs.util.inspect.custom')

/** Where a provider's tokens come from. */
export type ProviderKind = 'azure' | 'dsql' | 'rds'

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

const CODES = new Set<string>([
  'PASSMINT_INVALID_ARGUMENT', 'PASSMINT_INVALID_CONFIG', 'PASSMINT_CREDENTIAL_UNAVAILABLE',
  'PASSMINT_AUTHENTICATION_FAILED', 'PASSMINT_TIMEOUT', 'PASSMINT_NETWORK',
  'PASSMINT_PROVIDER_RESPONSE', 'PASSMINT_PANIC', 'PASSMINT_INTERNAL',
])

/** A native throw as a PassmintError (anything else from the native layer is INTERNAL). */
function translated(e: unknown): PassmintError {
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

function settled<T>(outcome: T | Failure): T {
  if (typeof outcome === 'object' && outcome !== null && 'code' in outcome && 'message' in outcome) {
    throw translated(outcome)
  }
  return outcome as T
}

function rethrown(e: unknown): never {
  throw translated(e)
}

function invalid(message: string): PassmintError {
  return new PassmintError('PASSMINT_INVALID_ARGUMENT', message)
}

function requireString(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string, not ${value === null ? 'null' : typeof value}`)
  return value
}

const ADOPT = Symbol('adopt')

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

type Query = Record<string, string | number | undefined>

/** Builds a provider URL from typed options; the core parses and validates it like any other. */
function fromOptions(
  scheme: string,
  authority: string,
  options: object,
  names: Record<string, string>,
  authorityKeys: string[] = [],
): Provider {
  const query: Query = {}
  for (const [key, value] of Object.entries(options)) {
    if (authorityKeys.includes(key) || value === undefined || value === null) continue
    const name = names[key]
    if (name === undefined) {
      throw invalid(`${scheme}(): unknown option '${key}' (known: ${[...authorityKeys, ...Object.keys(names)].join(', ')})`)
    }
    if (typeof value === 'boolean') {
      if (value) query[name] = 'true'
      continue
    }
    if (typeof value !== 'string' && typeof value !== 'number') throw invalid(`${scheme}(): ${key} must be a string or number`)
    query[name] = value
  }
  const params = Object.entries(query)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&')
  return new Provider(`${scheme}://${authority}${params ? `?${params}` : ''}`)
}

function hostOf(scheme: string, host: unknown): string {
  const text = requireString(host, `${scheme}(): host`)
  // The host becomes the URL's authority: characters that would end it are a caller mistake.
  // Not echoed: a URL passed here by mistake may carry a password.
  if (text === '' || /[/?#@\s\\]/.test(text)) {
    throw invalid(`${scheme}(): host must be a bare host name (no scheme, user, path, query or spaces)`)
  }
  return text
}

/** Options of {@link azure}: the `azure://` URL parameters. */
export interface AzureOptions {
  /** Which credential; `'auto'` (default) tries environment → workload → managed → cli → azd. */
  credential?: 'auto' | 'environment' | 'workload' | 'managed' | 'cli' | 'azd'
  /** A user-assigned managed identity, by client id, object id or resource id. */
  clientId?: string
  objectId?: string
  resourceId?: string
  tenantId?: string
  cloud?: 'public' | 'usgov' | 'china'
  /** Overrides the cloud's Azure Database for PostgreSQL scope: another cloud's database scope, or
   * any resource scope with `allowCustomScope` (its token is sent to the server as a password). */
  scope?: string
  allowCustomScope?: boolean
  /** The role name; when absent it comes from the token's claims. */
  user?: string
}

/** An Entra ID provider for Azure Database for PostgreSQL. */
export function azure(options: AzureOptions = {}): Provider {
  return fromOptions('azure', '', options, {
    credential: 'credential', clientId: 'client_id', objectId: 'object_id', resourceId: 'resource_id',
    tenantId: 'tenant_id', cloud: 'cloud', scope: 'scope', allowCustomScope: 'allow_custom_scope', user: 'user',
  })
}

/** Options of {@link dsql}: the `dsql://` URL parameters. */
export interface DsqlOptions {
  /** The cluster endpoint (`<id>.dsql.<region>.on.aws`), or the cluster id with `region`. */
  host: string
  region?: string
  /** `'admin'` (default) signs DbConnectAdmin; any other role DbConnect. */
  user?: string
  /** Token lifetime in seconds (default 900). */
  expiresIn?: number
  /** An AWS shared-config profile. */
  profile?: string
}

/** An Aurora DSQL provider. */
export function dsql(options: DsqlOptions): Provider {
  return fromOptions('dsql', hostOf('dsql', options?.host), options, {
    region: 'region', user: 'user', expiresIn: 'expires_in', profile: 'profile',
  }, ['host'])
}

/** Options of {@link rds}: the `rds://` URL parameters. */
export interface RdsOptions {
  host: string
  /** Default 5432. */
  port?: number
  /** The database user; it is signed into the token. */
  user: string
  /** Required unless the host is `*.<region>.rds.amazonaws.com`. */
  region?: string
  profile?: string
}

/** An RDS / Aurora IAM provider. */
export function rds(options: RdsOptions): Provider {
  const host = hostOf('rds', options?.host)
  const port = options.port
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
    throw invalid(`rds(): port must be an integer between 1 and 65535, not ${String(port)}`)
  }
  return fromOptions('rds', port === undefined ? host : `${host}:${port}`, options, {
    user: 'user', region: 'region', profile: 'profile',
  }, ['host', 'port'])
}

/** The parts of a Sequelize 6 instance {@link configureSequelize} uses. */
export interface SequelizeLike {
  addHook(hook: 'beforeConnect', name: string, fn: (config: SequelizeConnectionConfig) => Promise<void>): unknown
}

/** The connection config Sequelize 6 hands its `beforeConnect` hooks. */
export interface SequelizeConnectionConfig {
  username?: string | null
  password?: string | null
  dialectOptions?: { ssl?: unknown; [key: string]: unknown } | null
  [key: string]: unknown
}

/** What the helpers need of a provider (any copy of this package's Provider). */
export interface TokenSource {
  tokenInfo(): Promise<Token>
  readonly username: string | null
  /** For the TLS advice in refusals; see {@link Provider.serverCaBundle}. */
  readonly serverCaBundle?: string | null
}

export interface HelperOptions {
  /** Let the helper send tokens over a connection the caller configured without TLS. */
  allowPlaintext?: boolean
  /**
   * Let the helper send tokens over TLS that does not check the server's name (`PGSSLMODE=no-verify`,
   * `rejectUnauthorized: false`, a `checkServerIdentity` of your own). Whoever answers on the path
   * then gets a token that other servers of its audience accept.
   */
  allowUnverifiedTls?: boolean
}

/** The PGSSLMODE values with which node-postgres uses TLS (it matches them exactly; any other
 * value, `allow` included, means plaintext). All but `no-verify` mean `ssl: true`, which Node
 * verifies in full, host name included. */
const PG_TLS_MODES = new Set(['prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'])

/** What to write instead, for the provider's cloud. */
function trustAdvice(provider: TokenSource): string {
  const bundle = provider.serverCaBundle
  return bundle
    ? `ssl: { rejectUnauthorized: true, ca: <global-bundle.pem from ${bundle}> }`
    : "ssl: { rejectUnauthorized: true } (Node's bundled roots)"
}

/**
 * The TLS a node-postgres-based helper adds, by node-postgres's own rules: verified TLS
 * (`{ rejectUnauthorized: true }`) when neither `ssl` nor PGSSLMODE chose; a choice with which
 * node-postgres would send the token in plaintext, or over TLS that checks no server name, is an
 * error unless allowed.
 */
function pgTls(ssl: unknown, helper: string, provider: TokenSource, options: HelperOptions): { ssl?: { rejectUnauthorized: true } } {
  let plaintext: string | undefined
  let unverified: string | undefined
  if (ssl === undefined || ssl === null) {
    const mode = process.env.PGSSLMODE
    if (mode === undefined || mode === '') return { ssl: { rejectUnauthorized: true } }
    if (!PG_TLS_MODES.has(mode)) plaintext = `PGSSLMODE=${JSON.stringify(mode)}`
    else if (mode === 'no-verify') unverified = 'PGSSLMODE=no-verify'
  } else if (!ssl) {
    plaintext = `ssl: ${JSON.stringify(ssl)}`
  } else if (typeof ssl === 'object') {
    const tls = ssl as { rejectUnauthorized?: unknown; checkServerIdentity?: unknown }
    if (tls.rejectUnauthorized === false) unverified = 'ssl: { rejectUnauthorized: false }'
    else if (typeof tls.checkServerIdentity === 'function') unverified = 'ssl: { checkServerIdentity } (your own, in place of Node\'s host name check)'
  }
  if (plaintext !== undefined && options.allowPlaintext !== true) {
    throw new PassmintError(
      'PASSMINT_INVALID_CONFIG',
      `${plaintext} makes node-postgres send the database token without TLS; use ${trustAdvice(provider)}, ` +
        `or pass { allowPlaintext: true } to ${helper} if sending it unencrypted is intended`,
    )
  }
  if (unverified !== undefined && options.allowUnverifiedTls !== true) {
    const fix = unverified.includes('rejectUnauthorized: false') ? ' (the one-word fix: rejectUnauthorized: true)' : ''
    throw new PassmintError(
      'PASSMINT_INVALID_CONFIG',
      `${unverified} encrypts but does not check that the server is the one you named, so anyone on the path ` +
        `could take the database token and use it elsewhere; use ${trustAdvice(provider)}${fix}, or pass ` +
        `{ allowUnverifiedTls: true } to ${helper} if this is intended`,
    )
  }
  return {}
}

declare const process: { env: Record<string, string | undefined> }
declare function require(id: 'node:net'): { isIP(input: string): number }
declare function require(id: 'node:tls'): { checkServerIdentity(hostname: string, cert: unknown): Error | undefined }

/**
 * The verified TLS the helper adds. For a server reached by IP address node-postgres sets no
 * `servername` (SNI cannot carry one) and, before 8.23.1, no `host` either, so Node checked the
 * certificate against "localhost": here the check is made against the address itself.
 */
function verifiedTls(host: unknown): { rejectUnauthorized: true; checkServerIdentity?: (name: string, cert: unknown) => Error | undefined } {
  if (typeof host !== 'string' || require('node:net').isIP(host) === 0) return { rejectUnauthorized: true }
  const { checkServerIdentity } = require('node:tls')
  return { rejectUnauthorized: true, checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert) }
}

/**
 * Adds a `beforeConnect` hook to a Sequelize 6 instance that sets each new connection's password
 * to a fresh token and, when the token names its role and the caller gave none (nor PGUSER), the
 * username. Turns on verified TLS when neither `dialectOptions.ssl` nor PGSSLMODE chose; refuses a
 * plaintext choice unless `allowPlaintext`, and TLS that checks no server name unless
 * `allowUnverifiedTls`.
 */
export function configureSequelize<S extends SequelizeLike>(sequelize: S, provider: TokenSource, options: HelperOptions = {}): S {
  if (typeof provider?.tokenInfo !== 'function') throw invalid('configureSequelize(): provider must be a passmint Provider')
  if (typeof sequelize?.addHook !== 'function') throw invalid('configureSequelize(): expected a Sequelize 6 instance')
  const opts: HelperOptions = { allowPlaintext: options.allowPlaintext === true, allowUnverifiedTls: options.allowUnverifiedTls === true }
  sequelize.addHook('beforeConnect', 'passmint', async (config) => {
    const tls = pgTls(config.dialectOptions?.ssl, 'configureSequelize', provider, opts)
    if (tls.ssl) config.dialectOptions = { ...config.dialectOptions, ssl: verifiedTls(config.host) }
    const info = await provider.tokenInfo()
    // Sequelize keeps this config object: out of sight of util.inspect and loggers that walk it.
    Object.defineProperty(config, 'password', { value: info.secret, enumerable: false, writable: true, configurable: true })
    const named = (typeof config.username === 'string' && config.username.trim() !== '') || !!process.env.PGUSER
    const user = info.username ?? provider.username
    if (!named && user) config.username = user
  })
  return sequelize
}

/** The package version (the Rust core's). */
export const version: string = nativeVersion()
