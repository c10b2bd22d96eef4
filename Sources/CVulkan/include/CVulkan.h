// Vulkan for Swift, loaded at run time.
//
// The Vulkan loader (libvulkan.so.1) is opened with dlopen rather than linked,
// so that a machine without it gets one clear message naming the package to
// install instead of a dynamic-linker failure at start-up. Every entry point
// splat uses is a global function pointer with the usual `vk` name, filled by
// splatVulkanLoad* (the approach of the volk meta-loader).
#ifndef SPLAT_CVULKAN_H
#define SPLAT_CVULKAN_H

#define VK_NO_PROTOTYPES 1
#include <vulkan/vulkan.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// Global-level functions (usable without an instance).
#define SPLAT_VK_GLOBAL_FUNCTIONS(X) \
    X(vkCreateInstance) \
    X(vkEnumerateInstanceExtensionProperties) \
    X(vkEnumerateInstanceLayerProperties) \
    X(vkEnumerateInstanceVersion)

// Instance- and device-level functions, resolved through the instance.
#define SPLAT_VK_INSTANCE_FUNCTIONS(X) \
    X(vkDestroyInstance) \
    X(vkEnumeratePhysicalDevices) \
    X(vkGetPhysicalDeviceProperties) \
    X(vkGetPhysicalDeviceProperties2) \
    X(vkGetPhysicalDeviceFeatures2) \
    X(vkGetPhysicalDeviceMemoryProperties) \
    X(vkGetPhysicalDeviceQueueFamilyProperties) \
    X(vkEnumerateDeviceExtensionProperties) \
    X(vkCreateDevice) \
    X(vkDestroyDevice) \
    X(vkGetDeviceProcAddr) \
    X(vkGetDeviceQueue) \
    X(vkQueueSubmit) \
    X(vkQueueWaitIdle) \
    X(vkDeviceWaitIdle) \
    X(vkAllocateMemory) \
    X(vkFreeMemory) \
    X(vkMapMemory) \
    X(vkUnmapMemory) \
    X(vkFlushMappedMemoryRanges) \
    X(vkInvalidateMappedMemoryRanges) \
    X(vkCreateBuffer) \
    X(vkDestroyBuffer) \
    X(vkGetBufferMemoryRequirements) \
    X(vkBindBufferMemory) \
    X(vkCreateShaderModule) \
    X(vkDestroyShaderModule) \
    X(vkCreatePipelineCache) \
    X(vkDestroyPipelineCache) \
    X(vkGetPipelineCacheData) \
    X(vkCreateComputePipelines) \
    X(vkDestroyPipeline) \
    X(vkCreatePipelineLayout) \
    X(vkDestroyPipelineLayout) \
    X(vkCreateDescriptorSetLayout) \
    X(vkDestroyDescriptorSetLayout) \
    X(vkCreateCommandPool) \
    X(vkDestroyCommandPool) \
    X(vkResetCommandPool) \
    X(vkAllocateCommandBuffers) \
    X(vkFreeCommandBuffers) \
    X(vkBeginCommandBuffer) \
    X(vkEndCommandBuffer) \
    X(vkCreateFence) \
    X(vkDestroyFence) \
    X(vkResetFences) \
    X(vkWaitForFences) \
    X(vkCreateQueryPool) \
    X(vkDestroyQueryPool) \
    X(vkGetQueryPoolResults) \
    X(vkCmdResetQueryPool) \
    X(vkCmdWriteTimestamp) \
    X(vkCmdBindPipeline) \
    X(vkCmdPushConstants) \
    X(vkCmdPushDescriptorSetKHR) \
    X(vkCmdDispatch) \
    X(vkCmdDispatchIndirect) \
    X(vkCmdPipelineBarrier) \
    X(vkCmdCopyBuffer) \
    X(vkCmdFillBuffer) \
    X(vkCmdUpdateBuffer) \
    X(vkCreateDebugUtilsMessengerEXT) \
    X(vkDestroyDebugUtilsMessengerEXT) \
    X(vkCreateSemaphore) \
    X(vkDestroySemaphore) \
    X(vkCmdCopyBufferToImage) \
    X(vkDestroySurfaceKHR) \
    X(vkGetPhysicalDeviceSurfaceSupportKHR) \
    X(vkGetPhysicalDeviceSurfaceCapabilitiesKHR) \
    X(vkGetPhysicalDeviceSurfaceFormatsKHR) \
    X(vkGetPhysicalDeviceSurfacePresentModesKHR) \
    X(vkCreateSwapchainKHR) \
    X(vkDestroySwapchainKHR) \
    X(vkGetSwapchainImagesKHR) \
    X(vkAcquireNextImageKHR) \
    X(vkQueuePresentKHR)

// Hidden visibility: binaries that export their symbols (static Swift stdlib
// builds link with --export-dynamic) must not interpose these variables on the
// loader's own functions of the same names.
#define SPLAT_VK_DECLARE(name) extern __attribute__((visibility("hidden"))) PFN_##name name;
SPLAT_VK_GLOBAL_FUNCTIONS(SPLAT_VK_DECLARE)
SPLAT_VK_INSTANCE_FUNCTIONS(SPLAT_VK_DECLARE)
#undef SPLAT_VK_DECLARE

/// Opens the Vulkan loader. `path` may be NULL (libvulkan.so.1 from the
/// library search path). Returns 0 on success, else writes a message to `error`.
int splatVulkanLoad(const char *path, char *error, size_t errorCapacity);

/// Resolves every instance- and device-level function through `instance`.
/// Functions of extensions that were not enabled stay NULL.
void splatVulkanLoadInstance(VkInstance instance);

/// Whether splatVulkanLoad has succeeded.
int splatVulkanIsLoaded(void);

#ifdef __cplusplus
}
#endif
#endif
