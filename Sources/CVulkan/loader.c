#include "CVulkan.h"
#include <dlfcn.h>
#include <stdio.h>

static void *splatVulkanLibrary = NULL;
static PFN_vkGetInstanceProcAddr splatGetInstanceProcAddr = NULL;

#define SPLAT_VK_DEFINE(name) __attribute__((visibility("hidden"))) PFN_##name name = NULL;
SPLAT_VK_GLOBAL_FUNCTIONS(SPLAT_VK_DEFINE)
SPLAT_VK_INSTANCE_FUNCTIONS(SPLAT_VK_DEFINE)
#undef SPLAT_VK_DEFINE

int splatVulkanLoad(const char *path, char *error, size_t errorCapacity) {
    if (splatVulkanLibrary != NULL) return 0;
    const char *name = path != NULL ? path : "libvulkan.so.1";
    void *library = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL && path == NULL) library = dlopen("libvulkan.so", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, errorCapacity, "%s", dlerror());
        return 1;
    }
    splatGetInstanceProcAddr = (PFN_vkGetInstanceProcAddr)dlsym(library, "vkGetInstanceProcAddr");
    if (splatGetInstanceProcAddr == NULL) {
        snprintf(error, errorCapacity, "%s has no vkGetInstanceProcAddr", name);
        dlclose(library);
        return 1;
    }
    splatVulkanLibrary = library;
#define SPLAT_VK_LOAD_GLOBAL(name) name = (PFN_##name)splatGetInstanceProcAddr(VK_NULL_HANDLE, #name);
    SPLAT_VK_GLOBAL_FUNCTIONS(SPLAT_VK_LOAD_GLOBAL)
#undef SPLAT_VK_LOAD_GLOBAL
    return 0;
}

void splatVulkanLoadInstance(VkInstance instance) {
#define SPLAT_VK_LOAD_INSTANCE(name) name = (PFN_##name)splatGetInstanceProcAddr(instance, #name);
    SPLAT_VK_INSTANCE_FUNCTIONS(SPLAT_VK_LOAD_INSTANCE)
#undef SPLAT_VK_LOAD_INSTANCE
}

int splatVulkanIsLoaded(void) { return splatVulkanLibrary != NULL; }
