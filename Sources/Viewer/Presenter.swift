import CVulkan
import Compute
import Foundation

/// Shows frames in a window: a Vulkan swapchain of UNORM images (the frames'
/// values are already sRGB-encoded) into which each frame's packed 8-bit
/// pixels are copied (vkCmdCopyBufferToImage) and presented. Recreated on
/// resize or when the surface reports it out of date; skipped while the
/// window has no area (minimised).
public final class Presenter {
    public enum Outcome { case presented, outOfDate, skipped }

    let device: ComputeDevice
    let surface: VkSurfaceKHR
    let instance: VkInstance
    var swapchain: VkSwapchainKHR?
    var images: [VkImage?] = []
    var renderFinished: [VkSemaphore?] = []   // one per swapchain image (a present may still wait on it)
    let imageAvailable: VkSemaphore
    let commandPool: VkCommandPool
    let commandBuffer: VkCommandBuffer
    let fence: VkFence
    var fenceArmed = false
    public private(set) var width = 0
    public private(set) var height = 0
    /// Whether the swapchain's format is B8G8R8A8 (else R8G8B8A8).
    public private(set) var bgra = true
    /// FIFO (vsync) or, without vsync, IMMEDIATE / MAILBOX where the surface offers one.
    public var vsync: Bool
    public private(set) var presentModeName = ""

    /// The device must have been made with VK_KHR_swapchain and a queue that can present to `surface`.
    public init(device: ComputeDevice, instance: VkInstance, surface: VkSurfaceKHR, vsync: Bool) throws {
        self.device = device
        self.instance = instance
        self.surface = surface
        self.vsync = vsync
        guard vkCreateSwapchainKHR != nil, vkQueuePresentKHR != nil else {
            throw ComputeError.noDevice(detail: "the Vulkan loader has no swapchain entry points (VK_KHR_swapchain)")
        }
        var poolInfo = VkCommandPoolCreateInfo()
        poolInfo.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO
        poolInfo.queueFamilyIndex = device.queueFamily
        var pool: VkCommandPool?
        try Presenter.check(vkCreateCommandPool(device.handle, &poolInfo, nil, &pool), "vkCreateCommandPool")
        commandPool = pool!
        var alloc = VkCommandBufferAllocateInfo()
        alloc.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO
        alloc.commandPool = pool
        alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY
        alloc.commandBufferCount = 1
        var cb: VkCommandBuffer?
        try Presenter.check(vkAllocateCommandBuffers(device.handle, &alloc, &cb), "vkAllocateCommandBuffers")
        commandBuffer = cb!
        var fenceInfo = VkFenceCreateInfo()
        fenceInfo.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO
        var f: VkFence?
        try Presenter.check(vkCreateFence(device.handle, &fenceInfo, nil, &f), "vkCreateFence")
        fence = f!
        imageAvailable = try Presenter.semaphore(device.handle)
    }

    deinit {
        _ = vkDeviceWaitIdle(device.handle)
        destroySwapchain()
        vkDestroySemaphore(device.handle, imageAvailable, nil)
        vkDestroyFence(device.handle, fence, nil)
        vkDestroyCommandPool(device.handle, commandPool, nil)
        vkDestroySurfaceKHR(instance, surface, nil)
    }

    static func check(_ result: VkResult, _ call: String) throws {
        guard result == VK_SUCCESS else { throw ComputeError.vulkan(call: call, result: result.rawValue) }
    }

    static func semaphore(_ device: VkDevice) throws -> VkSemaphore {
        var info = VkSemaphoreCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_SEMAPHORE_CREATE_INFO
        var s: VkSemaphore?
        try check(vkCreateSemaphore(device, &info, nil, &s), "vkCreateSemaphore")
        return s!
    }

    func destroySwapchain() {
        for s in renderFinished { vkDestroySemaphore(device.handle, s, nil) }
        renderFinished = []
        images = []
        if let swapchain { vkDestroySwapchainKHR(device.handle, swapchain, nil) }
        swapchain = nil
    }

    /// (Re)creates the swapchain for a drawable of `width` x `height` pixels
    /// (the surface's own extent wins where it has one). Returns false when
    /// the surface has no area (minimised): nothing can be presented then.
    @discardableResult
    public func configure(width requestedWidth: Int, height requestedHeight: Int) throws -> Bool {
        try waitForFrame()
        let physical = device.physicalDevice
        var caps = VkSurfaceCapabilitiesKHR()
        try Presenter.check(vkGetPhysicalDeviceSurfaceCapabilitiesKHR(physical, surface, &caps), "vkGetPhysicalDeviceSurfaceCapabilitiesKHR")
        var w = Int(caps.currentExtent.width), h = Int(caps.currentExtent.height)
        if caps.currentExtent.width == UInt32.max {
            w = min(max(requestedWidth, Int(caps.minImageExtent.width)), Int(caps.maxImageExtent.width))
            h = min(max(requestedHeight, Int(caps.minImageExtent.height)), Int(caps.maxImageExtent.height))
        }
        guard w > 0, h > 0 else { return false }
        guard caps.supportedUsageFlags & VK_IMAGE_USAGE_TRANSFER_DST_BIT.rawValue != 0 else {
            throw ComputeError.noDevice(detail: "the window surface cannot be a copy destination (VK_IMAGE_USAGE_TRANSFER_DST_BIT)")
        }

        var count: UInt32 = 0
        _ = vkGetPhysicalDeviceSurfaceFormatsKHR(physical, surface, &count, nil)
        var formats = [VkSurfaceFormatKHR](repeating: VkSurfaceFormatKHR(), count: Int(count))
        try Presenter.check(vkGetPhysicalDeviceSurfaceFormatsKHR(physical, surface, &count, &formats), "vkGetPhysicalDeviceSurfaceFormatsKHR")
        let unorm = formats.first { $0.format == VK_FORMAT_B8G8R8A8_UNORM } ?? formats.first { $0.format == VK_FORMAT_R8G8B8A8_UNORM }
        guard let chosen = unorm else {
            throw ComputeError.noDevice(detail: "the window offers no B8G8R8A8_UNORM or R8G8B8A8_UNORM format")
        }
        bgra = chosen.format == VK_FORMAT_B8G8R8A8_UNORM

        _ = vkGetPhysicalDeviceSurfacePresentModesKHR(physical, surface, &count, nil)
        var modes = [VkPresentModeKHR](repeating: VK_PRESENT_MODE_FIFO_KHR, count: Int(count))
        try Presenter.check(vkGetPhysicalDeviceSurfacePresentModesKHR(physical, surface, &count, &modes), "vkGetPhysicalDeviceSurfacePresentModesKHR")
        var mode = VK_PRESENT_MODE_FIFO_KHR
        if !vsync {
            if modes.contains(VK_PRESENT_MODE_IMMEDIATE_KHR) { mode = VK_PRESENT_MODE_IMMEDIATE_KHR }
            else if modes.contains(VK_PRESENT_MODE_MAILBOX_KHR) { mode = VK_PRESENT_MODE_MAILBOX_KHR }
        }
        presentModeName = mode == VK_PRESENT_MODE_FIFO_KHR ? "fifo" : mode == VK_PRESENT_MODE_IMMEDIATE_KHR ? "immediate" : "mailbox"

        var imageCount = caps.minImageCount + 1
        if caps.maxImageCount > 0 { imageCount = min(imageCount, caps.maxImageCount) }
        let opaque = VK_COMPOSITE_ALPHA_OPAQUE_BIT_KHR.rawValue
        let alphaBits = [opaque, VK_COMPOSITE_ALPHA_INHERIT_BIT_KHR.rawValue, VK_COMPOSITE_ALPHA_PRE_MULTIPLIED_BIT_KHR.rawValue,
                         VK_COMPOSITE_ALPHA_POST_MULTIPLIED_BIT_KHR.rawValue]
        let alpha = alphaBits.first { caps.supportedCompositeAlpha & $0 != 0 } ?? opaque

        var info = VkSwapchainCreateInfoKHR()
        info.sType = VK_STRUCTURE_TYPE_SWAPCHAIN_CREATE_INFO_KHR
        info.surface = surface
        info.minImageCount = imageCount
        info.imageFormat = chosen.format
        info.imageColorSpace = chosen.colorSpace
        info.imageExtent = VkExtent2D(width: UInt32(w), height: UInt32(h))
        info.imageArrayLayers = 1
        info.imageUsage = VK_IMAGE_USAGE_TRANSFER_DST_BIT.rawValue
        info.imageSharingMode = VK_SHARING_MODE_EXCLUSIVE
        info.preTransform = caps.currentTransform
        info.compositeAlpha = VkCompositeAlphaFlagBitsKHR(rawValue: alpha)
        info.presentMode = mode
        info.clipped = VkBool32(VK_TRUE)
        info.oldSwapchain = swapchain
        var made: VkSwapchainKHR?
        let result = vkCreateSwapchainKHR(device.handle, &info, nil, &made)
        destroySwapchain()
        try Presenter.check(result, "vkCreateSwapchainKHR")
        swapchain = made
        _ = vkGetSwapchainImagesKHR(device.handle, made, &count, nil)
        images = [VkImage?](repeating: nil, count: Int(count))
        try Presenter.check(vkGetSwapchainImagesKHR(device.handle, made, &count, &images), "vkGetSwapchainImagesKHR")
        renderFinished = try images.map { _ in try Presenter.semaphore(device.handle) }
        (width, height) = (w, h)
        return true
    }

    func waitForFrame() throws {
        guard fenceArmed else { return }
        try Presenter.check(vkWaitForFences(device.handle, 1, [fence], VkBool32(VK_TRUE), UInt64.max), "vkWaitForFences")
        fenceArmed = false
    }

    /// Copies `pixels` ([height, width] u32 in the swapchain's byte order,
    /// written by earlier submissions on the device's queue) to the next
    /// image and presents it.
    public func present(pixels: GPUBuffer) throws -> Outcome {
        guard let swapchain, width > 0, height > 0 else { return .skipped }
        guard pixels.length >= width * height * 4 else {
            throw ComputeError.invalidArgument("present: \(pixels.length) bytes for a \(width)x\(height) window")
        }
        try waitForFrame()
        var index: UInt32 = 0
        let acquired = vkAcquireNextImageKHR(device.handle, swapchain, UInt64.max, imageAvailable, nil, &index)
        if acquired == VK_ERROR_OUT_OF_DATE_KHR { return .outOfDate }
        if acquired != VK_SUCCESS && acquired != VK_SUBOPTIMAL_KHR {
            throw ComputeError.vulkan(call: "vkAcquireNextImageKHR", result: acquired.rawValue)
        }
        let image = images[Int(index)]
        try Presenter.check(vkResetCommandPool(device.handle, commandPool, 0), "vkResetCommandPool")
        var begin = VkCommandBufferBeginInfo()
        begin.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO
        begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT.rawValue
        try Presenter.check(vkBeginCommandBuffer(commandBuffer, &begin), "vkBeginCommandBuffer")

        // The pixels were written by compute shaders in an earlier submission.
        var memory = VkMemoryBarrier()
        memory.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER
        memory.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT.rawValue
        memory.dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT.rawValue
        var toCopy = imageBarrier(image, from: VK_IMAGE_LAYOUT_UNDEFINED, to: VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL,
                                  srcAccess: 0, dstAccess: VK_ACCESS_TRANSFER_WRITE_BIT.rawValue)
        vkCmdPipelineBarrier(commandBuffer, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT.rawValue | VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT.rawValue,
                             VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue, 0, 1, &memory, 0, nil, 1, &toCopy)
        var region = VkBufferImageCopy()
        region.imageSubresource = VkImageSubresourceLayers(aspectMask: VK_IMAGE_ASPECT_COLOR_BIT.rawValue, mipLevel: 0,
                                                           baseArrayLayer: 0, layerCount: 1)
        region.imageExtent = VkExtent3D(width: UInt32(width), height: UInt32(height), depth: 1)
        vkCmdCopyBufferToImage(commandBuffer, pixels.handle, image, VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, 1, &region)
        var toPresent = imageBarrier(image, from: VK_IMAGE_LAYOUT_TRANSFER_DST_OPTIMAL, to: VK_IMAGE_LAYOUT_PRESENT_SRC_KHR,
                                     srcAccess: VK_ACCESS_TRANSFER_WRITE_BIT.rawValue, dstAccess: 0)
        vkCmdPipelineBarrier(commandBuffer, VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT.rawValue,
                             0, 0, nil, 0, nil, 1, &toPresent)
        try Presenter.check(vkEndCommandBuffer(commandBuffer), "vkEndCommandBuffer")

        let finished = renderFinished[Int(index)]
        var waitStage = VK_PIPELINE_STAGE_TRANSFER_BIT.rawValue
        var waitSemaphore: VkSemaphore? = imageAvailable
        var signalSemaphore: VkSemaphore? = finished
        var cb: VkCommandBuffer? = commandBuffer
        var submit = VkSubmitInfo()
        submit.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO
        try withUnsafePointer(to: &waitSemaphore) { ws in
            try withUnsafePointer(to: &waitStage) { wst in
                try withUnsafePointer(to: &signalSemaphore) { ss in
                    try withUnsafePointer(to: &cb) { cbp in
                        submit.waitSemaphoreCount = 1
                        submit.pWaitSemaphores = ws
                        submit.pWaitDstStageMask = wst
                        submit.commandBufferCount = 1
                        submit.pCommandBuffers = cbp
                        submit.signalSemaphoreCount = 1
                        submit.pSignalSemaphores = ss
                        try Presenter.check(vkResetFences(device.handle, 1, [fence]), "vkResetFences")
                        try Presenter.check(vkQueueSubmit(device.queue, 1, &submit, fence), "vkQueueSubmit")
                    }
                }
            }
        }
        fenceArmed = true

        var chain: VkSwapchainKHR? = swapchain
        var imageIndex = index
        var presentResult = VK_SUCCESS
        withUnsafePointer(to: &signalSemaphore) { ss in
            withUnsafePointer(to: &chain) { sc in
                withUnsafePointer(to: &imageIndex) { ip in
                    var info = VkPresentInfoKHR()
                    info.sType = VK_STRUCTURE_TYPE_PRESENT_INFO_KHR
                    info.waitSemaphoreCount = 1
                    info.pWaitSemaphores = ss
                    info.swapchainCount = 1
                    info.pSwapchains = sc
                    info.pImageIndices = ip
                    presentResult = vkQueuePresentKHR(device.queue, &info)
                }
            }
        }
        if presentResult == VK_ERROR_OUT_OF_DATE_KHR || presentResult == VK_SUBOPTIMAL_KHR || acquired == VK_SUBOPTIMAL_KHR {
            return .outOfDate
        }
        if presentResult != VK_SUCCESS { throw ComputeError.vulkan(call: "vkQueuePresentKHR", result: presentResult.rawValue) }
        return .presented
    }

    func imageBarrier(_ image: VkImage?, from: VkImageLayout, to: VkImageLayout, srcAccess: UInt32, dstAccess: UInt32) -> VkImageMemoryBarrier {
        var b = VkImageMemoryBarrier()
        b.sType = VK_STRUCTURE_TYPE_IMAGE_MEMORY_BARRIER
        b.oldLayout = from
        b.newLayout = to
        b.srcAccessMask = srcAccess
        b.dstAccessMask = dstAccess
        b.srcQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED
        b.dstQueueFamilyIndex = VK_QUEUE_FAMILY_IGNORED
        b.image = image
        b.subresourceRange = VkImageSubresourceRange(aspectMask: VK_IMAGE_ASPECT_COLOR_BIT.rawValue, baseMipLevel: 0, levelCount: 1,
                                                     baseArrayLayer: 0, layerCount: 1)
        return b
    }
}
