// Reference AWS credentials from @aws-sdk/credential-providers (JS), the counterpart of
// harness/awsref.py:  node harness/awsref.mjs <container|imds|process> [--profile NAME]
// Prints one JSON line: {"token": <access key id>, "expires_on"} (exit 0) or {"error", "message"}.
import { fromContainerMetadata, fromInstanceMetadata, fromProcess } from "@aws-sdk/credential-providers";

const [source, flag, profile] = process.argv.slice(2);
const options = { timeout: 2000, maxRetries: 0 };
const provider = {
  container: () => fromContainerMetadata(options),
  imds: () => fromInstanceMetadata(options),
  process: () => fromProcess(flag === "--profile" ? { profile } : {}),
}[source];

let out;
try {
  const creds = await provider()();
  // An Invalid Date is handed out as it is: credentials the SDK will never see expire.
  const when = creds.expiration?.getTime();
  const known = when !== undefined && !Number.isNaN(when);
  out = { token: creds.accessKeyId, expires_on: known ? Math.floor(when / 1000) : null };
} catch (e) {
  out = { error: e?.name ?? "Error", message: String(e?.message ?? e).split("\n")[0] };
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit("token" in out ? 0 : 1);
