"""Back-projection, poses, resolution matching and voxel down-sampling."""

from __future__ import annotations

import numpy as np
import pytest
from zoo_depthsam.geometry import (
    backproject,
    check_aspect,
    check_intrinsics,
    nearest_index,
    resize_nearest,
    voxel_downsample,
)

from zoo.errors import InputError


def test_backprojection_of_a_fronto_parallel_plane_is_exact() -> None:
    # a 4x3 depth map of a plane at z = 2 m, one invalid pixel; fx=100, fy=50, cx=1.5, cy=1
    depth = np.full((3, 4), 2.0, np.float32)
    depth[1, 2] = 0.0
    valid = depth > 0
    xyz, flat = backproject(depth, valid, (100.0, 50.0, 1.5, 1.0))
    # hand-computed: x = (u - 1.5) * 2 / 100, y = (v - 1) * 2 / 50, z = 2; row-major order
    expected = []
    for v in range(3):
        for u in range(4):
            if (v, u) == (1, 2):
                continue
            expected.append(((u - 1.5) * 0.02, (v - 1) * 0.04, 2.0))
    np.testing.assert_array_equal(xyz, np.array(expected))
    assert len(xyz) == int(valid.sum()) == 11
    np.testing.assert_array_equal(flat, np.flatnonzero(valid.ravel()))


def test_backprojection_of_a_tilted_plane_recovers_the_plane() -> None:
    # depth of the plane z = 1 + 0.5 * y seen by a pinhole camera: z(v) = 1 / (1 - 0.5 (v-cy)/fy)
    fx = fy = 200.0
    cx, cy = 31.5, 23.5
    v = np.arange(48, dtype=np.float64)[:, None] * np.ones((1, 64))
    z = 1.0 / (1.0 - 0.5 * (v - cy) / fy)
    xyz, _ = backproject(z.astype(np.float64), np.ones_like(z, bool), (fx, fy, cx, cy))
    np.testing.assert_allclose(xyz[:, 2], 1.0 + 0.5 * xyz[:, 1], rtol=0, atol=1e-12)


def test_pose_maps_camera_points_to_world() -> None:
    depth = np.array([[1.0, 2.0]], np.float32)
    k = (1.0, 1.0, 0.0, 0.0)
    cam, _ = backproject(depth, depth > 0, k)
    # rotate 90 degrees about z and translate
    pose = np.array([[0, -1, 0, 10], [1, 0, 0, 20], [0, 0, 1, 30], [0, 0, 0, 1]], float)
    world, _ = backproject(depth, depth > 0, k, pose)
    hom = np.c_[cam, np.ones(len(cam))] @ pose.T
    np.testing.assert_allclose(world, hom[:, :3], atol=1e-12)
    assert tuple(world[1]) == (10.0 - 0.0, 20.0 + 2.0, 32.0)  # (x=2*1, y=0, z=2) rotated


@pytest.mark.parametrize("bad", [(0, 1, 1, 1), (1, -2, 1, 1), (1, 1, np.nan, 1), (1, 2, 3)])
def test_bad_intrinsics_are_input_errors(bad: tuple) -> None:
    with pytest.raises(InputError):
        check_intrinsics(bad)


def test_intrinsics_from_matrices_and_text() -> None:
    k = np.array([[500, 0, 320, 0], [0, 510, 240, 0], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    assert check_intrinsics(k) == (500.0, 510.0, 320.0, 240.0)
    assert check_intrinsics(k[:3, :3]) == (500.0, 510.0, 320.0, 240.0)
    assert check_intrinsics("500,510,320,240") == (500.0, 510.0, 320.0, 240.0)


def test_aspect_check_allows_scannet_colour_and_depth_but_not_a_crop() -> None:
    check_aspect((968, 1296), (480, 640))  # ScanNet colour vs depth: 0.4 % apart
    check_aspect((480, 640), (480, 640))
    with pytest.raises(InputError, match="aspect"):
        check_aspect((480, 480), (480, 640))


def test_nearest_resize_is_pixel_centre_aligned() -> None:
    np.testing.assert_array_equal(nearest_index(2, 4), [0, 0, 1, 1])
    np.testing.assert_array_equal(nearest_index(4, 2), [1, 3])  # centre 0.5 -> src 1.0
    m = np.array([[[1, 2], [3, 4]]])
    np.testing.assert_array_equal(
        resize_nearest(m, (4, 4))[0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    )


def test_voxel_downsample_means_positions_and_votes_labels() -> None:
    xyz = np.array([[0.01, 0.01, 0.01], [0.02, 0.03, 0.04], [0.04, 0.0, 0.0], [0.11, 0.0, 0.0]])
    rgb = np.array([[0, 0, 0], [30, 30, 30], [60, 60, 60], [200, 100, 0]], np.uint8)
    inst = np.array([5, 7, 7, 1])
    out, col, (lab,) = voxel_downsample(xyz, 0.05, rgb=rgb, labels=(inst,))
    assert len(out) == 2
    order = np.argsort(out[:, 0])
    np.testing.assert_allclose(out[order[0]], xyz[:3].mean(axis=0))
    np.testing.assert_array_equal(col[order[0]], [30, 30, 30])
    assert lab[order[0]] == 7 and lab[order[1]] == 1
    same, c2, _ = voxel_downsample(xyz, 0.0, rgb=rgb)
    assert same is xyz and c2 is rgb
