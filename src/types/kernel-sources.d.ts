// The browser build's virtual module: every kernels/*.wgsl file as { file, source } (build/browser.mjs).
declare module 'sbld:kernel-sources' {
  const sources: readonly { file: string; source: string }[];
  export default sources;
}
