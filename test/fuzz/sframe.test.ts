/** Property-based fuzzing of the sframe code (properties in ./properties/sframe.ts, shared with `npm run fuzz`). */
import { before, test } from "node:test";
import { fuzzReady } from "./properties/harness.js";
import { sframeProperties } from "./properties/sframe.js";

before(fuzzReady);

for (const property of sframeProperties) {
  test(property.name, () => {
    property.run(property.ciRuns);
  });
}
