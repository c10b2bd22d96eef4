// Helpers shared by every kernel.
#ifndef SPLAT_DISPATCH_GLSL
#define SPLAT_DISPATCH_GLSL

// The linear index of this workgroup. CommandStream.dispatch splits group
// counts above the per-dimension limit into a 2D grid, so a 1D kernel must use
// this (and bound-check it) instead of gl_WorkGroupID.x.
uint splatWorkgroupIndex() {
    return gl_WorkGroupID.x + gl_NumWorkGroups.x * (gl_WorkGroupID.y + gl_NumWorkGroups.y * gl_WorkGroupID.z);
}

uint splatWorkgroupCount() {
    return gl_NumWorkGroups.x * gl_NumWorkGroups.y * gl_NumWorkGroups.z;
}

#endif
