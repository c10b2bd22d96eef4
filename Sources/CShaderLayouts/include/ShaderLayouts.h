// Swift's view of Shaders/common/layouts.h, the one header that defines every
// buffer layout shared by GLSL and Swift.
#include "../../../Shaders/common/layouts.h"
