#include <mujoco/mujoco.h>
