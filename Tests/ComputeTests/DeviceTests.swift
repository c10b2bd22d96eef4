@testable import Compute
import Foundation
import ComputeTestSupport
import XCTest

final class DeviceTests: GPUTestCase {
    func testDeviceIsUsableAndDescribed() throws {
        let info = device.info
        XCTAssertFalse(info.name.isEmpty)
        XCTAssertNil(info.unsupportedReason)
        XCTAssertGreaterThan(info.subgroupSize, 0)
        XCTAssertLessThanOrEqual(info.minSubgroupSize, info.subgroupSize)
        XCTAssertGreaterThanOrEqual(info.maxSubgroupSize, info.subgroupSize)
        XCTAssertGreaterThan(info.maxSharedMemoryBytes, 0)
        XCTAssertGreaterThan(info.maxWorkgroupInvocations, 0)
        XCTAssertEqual(info.maxWorkgroupCount.count, 3)
        XCTAssertFalse(info.heaps.isEmpty)
    }

    func testValidationLayerIsActiveInCI() throws {
        // CI installs vulkan-validationlayers; there, tests must run under it.
        if ProcessInfo.processInfo.environment["CI"] == "true" {
            XCTAssertTrue(device.instance.validationEnabled, "validation layers are not active in CI")
        }
    }

    private func info(_ name: String, _ kind: DeviceInfo.Kind, index: Int) -> DeviceInfo {
        var d = device.info
        d.name = name
        d.kind = kind
        d.index = index
        return d
    }

    func testChoicePrefersDiscreteThenIntegratedThenCPU() throws {
        let cpu = info("llvmpipe", .cpu, index: 0)
        let integrated = info("Intel UHD", .integrated, index: 1)
        let discrete = info("NVIDIA H100", .discrete, index: 2)
        XCTAssertEqual(try ComputeDevice.choose([cpu, integrated, discrete], request: nil), 2)
        XCTAssertEqual(try ComputeDevice.choose([cpu, integrated], request: nil), 1)
        XCTAssertEqual(try ComputeDevice.choose([cpu], request: nil), 0)
    }

    func testSplatDeviceOverrideByIndexOrName() throws {
        let all = [info("llvmpipe", .cpu, index: 0), info("NVIDIA H100", .discrete, index: 1)]
        XCTAssertEqual(try ComputeDevice.choose(all, request: "0"), 0)
        XCTAssertEqual(try ComputeDevice.choose(all, request: "LLVM"), 0)
        XCTAssertEqual(try ComputeDevice.choose(all, request: "h100"), 1)
    }

    func testSplatDeviceNamingNoDeviceListsDevices() throws {
        let all = [info("llvmpipe", .cpu, index: 0)]
        XCTAssertThrowsError(try ComputeDevice.choose(all, request: "radeon")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("radeon"), text)
            XCTAssertTrue(text.contains("llvmpipe"), text)
        }
    }

    func testUnsupportedDeviceIsNotChosen() throws {
        var broken = info("old GPU", .discrete, index: 0)
        broken.pushDescriptors = false
        let cpu = info("llvmpipe", .cpu, index: 1)
        XCTAssertEqual(try ComputeDevice.choose([broken, cpu], request: nil), 1)
        XCTAssertThrowsError(try ComputeDevice.choose([broken], request: nil))
    }
}

import CVulkan

final class ValidationTests: GPUTestCase {
    func testValidationMessagesAreCaught() throws {
        // A deliberately invalid call (a zero-sized buffer) must reach the log
        // that every test checks in tearDown.
        guard device.instance.validationEnabled else {
            throw XCTSkip("the Khronos validation layer is not installed (apt-get install vulkan-validationlayers): "
                          + "the test checks that an invalid Vulkan call reaches the log every test checks (CI requires the layer: testValidationLayerIsActiveInCI)")
        }
        var info = VkBufferCreateInfo()
        info.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO
        info.size = 0
        info.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT.rawValue
        var buffer: VkBuffer?
        _ = vkCreateBuffer(device.handle, &info, nil, &buffer)
        if let buffer { vkDestroyBuffer(device.handle, buffer, nil) }
        let messages = device.drainValidationMessages()
        XCTAssertFalse(messages.isEmpty, "the validation layer reported nothing for a zero-sized buffer")
    }
}
