/** Property-based fuzzing of the invite code (properties in ./properties/invite.ts, shared with `npm run fuzz`). */
import { before, test } from "node:test";
import { fuzzReady } from "./properties/harness.js";
import { inviteProperties } from "./properties/invite.js";

before(fuzzReady);

for (const property of inviteProperties) {
  test(property.name, () => {
    property.run(property.ciRuns);
  });
}
