import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds dist/ once: the end-to-end tests run the compiled CLI as PID 1.
    globalSetup: ["test/helpers/global-setup.ts"],
    // End-to-end tests spawn real PID namespaces and wait on real signals and deadlines.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: parallel e2e files compete for CPU and make signal timings noisy.
    fileParallelism: false,
    reporters: ["default"],
  },
});
