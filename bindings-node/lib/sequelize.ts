/**
 * `configureSequelize`: a `beforeConnect` hook with a fresh token, verified TLS by default and the
 * core's refusals, for Sequelize 6 (`sequelize`) and 7 (`@sequelize/core` with
 * `@sequelize/postgres`). Mirrors the Python package's per-driver helper modules.
 */

import { invalid } from './errors'
import { callerNamedUser, kindOf, retryAfterRefusal, tokenUser, type TokenSource } from './helpers'
import { type HelperOptions, pgTls, verifiedTls } from './tls'

export { type TokenSource } from './helpers'

type BeforeConnect = (config: SequelizeConnectionConfig) => Promise<void>

/** The parts of a Sequelize 6 or 7 instance {@link configureSequelize} uses. */
export interface SequelizeLike {
  /** Sequelize 6 (7 keeps it as a deprecated alias, so 7 is told apart by `hooks`). */
  addHook?(hook: 'beforeConnect', name: string, fn: BeforeConnect): unknown
  /** Sequelize 7. */
  hooks?: { addListener(hook: 'beforeConnect', fn: BeforeConnect, name?: string): unknown }
}

/**
 * The connection config Sequelize hands its `beforeConnect` hooks: Sequelize 6's
 * (`username`, `dialectOptions.ssl`) or Sequelize 7's, node-postgres's own (`user`, `ssl`).
 */
export interface SequelizeConnectionConfig {
  host?: string | null
  username?: string | null
  user?: string | null
  password?: string | null
  ssl?: unknown
  dialectOptions?: { ssl?: unknown; [key: string]: unknown } | null
  [key: string]: unknown
}

const HELPER = 'configureSequelize'

/** Errors of a connect already retried once, so that a second configureSequelize's wrapper leaves them. */
const retried = new WeakSet<object>()

type Connect = (this: unknown, config: SequelizeConnectionConfig) => Promise<unknown>

/**
 * Adds a `beforeConnect` hook to a Sequelize 6 or 7 instance that sets each new connection's
 * password to a fresh token and, when the caller gave no user (nor PGUSER), the role the token
 * names. Turns on verified TLS when neither the connection's `ssl` (Sequelize 6:
 * `dialectOptions.ssl`) nor PGSSLMODE chose; refuses a plaintext choice unless `allowPlaintext`,
 * and TLS that checks no server name unless `allowUnverifiedTls`.
 *
 * Rotation: the role is the token's on each new connection, so a new Vault lease's username is
 * used from the next connection on. Sequelize has no hook that sees a failed connect, so the
 * helper also wraps this instance's `sequelize.dialect.connectionManager.connect` (the call
 * between `beforeConnect` and `afterConnect`): when the server refuses the password
 * (`28P01`), the provider is told (`passwordRefused`), and for a source whose secrets rotate
 * early (vault, awssm, file, exec) the connect is made once more with a fresh token and its
 * role; a second refusal is thrown. IAM tokens and callbacks are never retried. Your own
 * `beforeConnect` hooks are not run again for the retry. (A Sequelize without that method gets
 * the hook alone, and no retry.)
 */
export function configureSequelize<S extends SequelizeLike>(sequelize: S, provider: TokenSource, options: HelperOptions = {}): S {
  if (typeof provider?.tokenInfo !== 'function') throw invalid(`${HELPER}(): provider must be a passmint Provider`)
  const v7 = typeof sequelize?.hooks?.addListener === 'function'
  if (!v7 && typeof sequelize?.addHook !== 'function') throw invalid(`${HELPER}(): expected a Sequelize 6 or 7 instance`)
  const opts: HelperOptions = { allowPlaintext: options.allowPlaintext === true, allowUnverifiedTls: options.allowUnverifiedTls === true }
  const kind = kindOf(provider)
  const userKey = v7 ? 'user' : 'username'
  // Sequelize 6 hands every connect the same config object: the role this helper set for one
  // token must not pass for the caller's choice on the next connect.
  const ourUser = new WeakMap<object, unknown>()
  const filled = new WeakSet<object>()

  const fill = async (config: SequelizeConnectionConfig): Promise<void> => {
    const info = await provider.tokenInfo()
    if (v7) {
      // Sequelize 7 spreads this throwaway copy into node-postgres's config, which hides it.
      config.password = info.secret
    } else {
      // Sequelize 6 keeps this object: out of sight of util.inspect and loggers that walk it.
      Object.defineProperty(config, 'password', { value: info.secret, enumerable: false, writable: true, configurable: true })
    }
    const ours = ourUser.has(config) && config[userKey] === ourUser.get(config)
    if (!callerNamedUser(ours ? undefined : config[userKey])) {
      config[userKey] = tokenUser(info, provider, HELPER)
      ourUser.set(config, config[userKey])
    }
    filled.add(config)
  }

  const hook: BeforeConnect = async (config) => {
    if (v7) {
      if (pgTls(config.ssl, HELPER, kind, opts)) config.ssl = verifiedTls(config.host)
    } else if (pgTls(config.dialectOptions?.ssl, HELPER, kind, opts)) {
      config.dialectOptions = { ...config.dialectOptions, ssl: verifiedTls(config.host) }
    }
    await fill(config)
  }
  if (v7) sequelize.hooks!.addListener('beforeConnect', hook, 'passmint')
  else sequelize.addHook!('beforeConnect', 'passmint', hook)

  const manager = (sequelize as { dialect?: { connectionManager?: { connect?: unknown } } }).dialect?.connectionManager
  if (typeof manager?.connect === 'function') {
    const connect = manager.connect as Connect
    const connectRetryingRefused: Connect = async function (config) {
      const sent = config?.password // read, as Sequelize does, before anything else can change it
      try {
        return await connect.call(this, config)
      } catch (e) {
        if (!filled.has(config) || retried.has(e as object) || !retryAfterRefusal(provider, e, sent)) throw e
      }
      await fill(config)
      try {
        return await connect.call(this, config)
      } catch (e) {
        if (typeof e === 'object' && e !== null) retried.add(e)
        throw e
      }
    }
    Object.defineProperty(manager, 'connect', { value: connectRetryingRefused, enumerable: false, writable: true, configurable: true })
  }
  return sequelize
}
