// wgsl_reflect 1.6's package entry is broken under ESM, so we import its module build directly; its types are
// the package's own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
