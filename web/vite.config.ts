import { defineConfig } from "vite";

// The server embeds dist/ and serves it at `/` with the files under `/assets/`, behind a
// Content-Security-Policy of `script-src 'self'`: no inline script, no eval.
export default defineConfig({
  base: "./",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
  },
  server: {
    proxy: { "/api": process.env.MAILSCOPE_API ?? "http://127.0.0.1:8080" },
  },
});
