/**
 * `configureSequelize`: Sequelize 6's `beforeConnect` hook with a fresh token, verified TLS by
 * default and the core's refusals. Mirrors the Python package's per-driver helper modules.
 */

import { invalid, translated } from './errors'
import { missingUser } from './native'
import { type Token } from './token'
import { type HelperOptions, pgTls, verifiedTls } from './tls'

declare const process: { env: Record<string, string | undefined> }

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
  /** The provider kind, whose cloud the TLS advice names (`'azure'`, `'dsql'`, `'rds'`). */
  readonly kind?: string
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
  const kind = typeof provider.kind === 'string' ? provider.kind : 'dsql'
  sequelize.addHook('beforeConnect', 'passmint', async (config) => {
    if (pgTls(config.dialectOptions?.ssl, 'configureSequelize', kind, opts)) {
      config.dialectOptions = { ...config.dialectOptions, ssl: verifiedTls(config.host) }
    }
    const info = await provider.tokenInfo()
    // Sequelize keeps this config object: out of sight of util.inspect and loggers that walk it.
    Object.defineProperty(config, 'password', { value: info.secret, enumerable: false, writable: true, configurable: true })
    const named = (typeof config.username === 'string' && config.username.trim() !== '') || !!process.env.PGUSER
    if (named) return
    const user = info.username ?? provider.username
    if (user) {
      config.username = user
      return
    }
    // Never the OS user by accident: the core's error says how to find the role.
    try {
      missingUser(kind, 'configureSequelize')
    } catch (e) {
      throw translated(e)
    }
  })
  return sequelize
}
