// The ES module entry point: the same objects as `require('passmint')`, so a program that mixes
// `import` and `require` shares one provider cache and one PassmintError class.
import passmint from './index.js'

export const {
  PassmintError, Provider, Token, awssm, azure, configureSequelize, dsql, gcp, mikroOrm6DriverOptions, pgOptions, postgresOptions,
  rds, vault, version,
} = passmint
export default passmint
