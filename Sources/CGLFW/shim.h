// GLFW types and constants only; functions are resolved with dlsym at run time.
#define GLFW_INCLUDE_NONE

#include <GLFW/glfw3.h>
