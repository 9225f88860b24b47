import { Engine } from '/work/main/src/runtime/engine.js';
const e = await Engine.create();
console.log(e.gpu.adapterInfo, e.gpu.adapterName, e.gpu.limits.maxComputeWorkgroupStorageSize, e.gpu.limits.minStorageBufferOffsetAlignment, [...e.features]);
e.destroy();
