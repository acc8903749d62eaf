// Starts cognito-local as its own lib/bin/start.js does, but logs through process.stdout.
//
// cognito-local 5.3.0 logs with pino-pretty 7, whose default destination is sonic-boom 2.8.
// sonic-boom 2.x counts what it buffered in UTF-16 code units and subtracts the UTF-8 bytes
// fs.write reports, so every line with multi-byte characters (the "Confirmation Code Delivery"
// box is drawn with ╭─│╰) drives its pending length below zero; later lines then stay in memory
// until enough ASCII has been logged to bring it back above zero
// (https://github.com/pinojs/sonic-boom/issues/139, fixed in sonic-boom 3). After three or four
// boxes a delivered code never reaches the log at all. process.stdout writes files and pipes
// synchronously in Node, counts nothing, and loses nothing.
//
// Usage: node start_cognito_local.js PATH/TO/cognito-local/lib/bin/start.js
"use strict";

const https = require("node:https");
const { createRequire } = require("node:module");

const cognitoLocalStart = process.argv[2];
if (!cognitoLocalStart) {
  console.error("usage: node start_cognito_local.js PATH/TO/cognito-local/lib/bin/start.js");
  process.exit(2);
}
// Resolve pino, pino-pretty and the server from cognito-local's own dependency tree.
const requireFromCognitoLocal = createRequire(cognitoLocalStart);
const pino = requireFromCognitoLocal("pino");
const pretty = requireFromCognitoLocal("pino-pretty");
const { createDefaultServer } = requireFromCognitoLocal("../server");

// The same options as lib/bin/start.js, so the log reads exactly as cognito-local's own.
const logger = pino(
  { level: process.env.DEBUG ? "debug" : "info" },
  pretty({
    colorize: true,
    ignore: "pid,name,hostname",
    singleLine: true,
    messageFormat: (log, messageKey) => `${log.reqId ?? "NONE"} ${log.target ?? "NONE"} ${log[messageKey]}`,
    destination: process.stdout,
  }),
);

createDefaultServer(logger)
  .then((server) => server.start())
  .then((server) => {
    const address = server.address();
    if (!address) {
      throw new Error("Server started without address");
    }
    const url = typeof address === "string" ? address : `${address.address}:${address.port}`;
    const proto = server instanceof https.Server ? "https" : "http";
    logger.info(`Cognito Local running on ${proto}://${url}`);
  })
  .catch((err) => {
    logger.error(err);
    process.exit(1);
  });
