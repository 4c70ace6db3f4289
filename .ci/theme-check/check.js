// Theme Check, Shopify's linter for themes and theme app extensions, on one extension
// folder with Shopify's configuration for app extensions. Prints each offense; exits 1 if
// there is any. Usage: node .ci/theme-check/check.js EXTENSION_FOLDER
"use strict";

const path = require("node:path");
const { fileURLToPath } = require("node:url");
const { themeCheckRun } = require("@shopify/theme-check-node");

async function main() {
  const root = path.resolve(process.argv[2]);
  const config = path.join(__dirname, "theme-check.yml");
  // Its log says which Liquid docs it could not download and that it uses the ones it
  // ships with; nothing to act on.
  const { offenses } = await themeCheckRun(root, config, () => {});
  for (const offense of offenses) {
    const file = path.relative(root, fileURLToPath(offense.uri));
    console.log(`${offense.check}  ${file}:${offense.start.line + 1}  ${offense.message}`);
  }
  console.log(`Theme Check: ${offenses.length} offense(s) in ${root}`);
  process.exitCode = offenses.length ? 1 : 0;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 2;
});
