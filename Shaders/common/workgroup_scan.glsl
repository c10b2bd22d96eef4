// Workgroup-wide exclusive sum built from subgroup operations.
//
// The including shader declares `shared uint splatScanTotals[...]` with at
// least gl_NumSubgroups + 1 entries (the workgroup size + 1 always suffices,
// whatever subgroup size the device picks). Every invocation of the workgroup
// must call it (it contains barriers).
#ifndef SPLAT_WORKGROUP_SCAN_GLSL
#define SPLAT_WORKGROUP_SCAN_GLSL

uint workgroupExclusiveAdd(uint value, out uint total) {
    // The previous use of splatScanTotals must be over before it is rewritten.
    barrier();
    uint inclusive = subgroupInclusiveAdd(value);
    uint subgroupTotal = subgroupAdd(value);
    if (subgroupElect()) splatScanTotals[gl_SubgroupID] = subgroupTotal;
    barrier();
    if (gl_SubgroupID == 0) {
        // There may be more subgroups than lanes (e.g. 32 subgroups of 8 on
        // lavapipe), so scan the totals a subgroup-width at a time.
        uint carry = 0;
        for (uint base = 0; base < gl_NumSubgroups; base += gl_SubgroupSize) {
            uint i = base + gl_SubgroupInvocationID;
            uint v = i < gl_NumSubgroups ? splatScanTotals[i] : 0u;
            uint incl = subgroupInclusiveAdd(v);
            if (i < gl_NumSubgroups) splatScanTotals[i] = carry + incl - v;
            carry += subgroupAdd(v);
        }
        if (subgroupElect()) splatScanTotals[gl_NumSubgroups] = carry;
    }
    barrier();
    total = splatScanTotals[gl_NumSubgroups];
    return splatScanTotals[gl_SubgroupID] + inclusive - value;
}

#endif
