"""Confirmation codes of the fingerprint module, with kiosk prompts.

Each code carries a Chinese prompt for the member at the kiosk and an English
text for logs and staff; both say what to do next.
"""

from __future__ import annotations

from enum import IntEnum


class ConfirmationCode(IntEnum):
    OK = 0x00
    PACKET_ERROR = 0x01
    NO_FINGER = 0x02
    CAPTURE_FAILED = 0x03
    IMAGE_MESSY = 0x06
    TOO_FEW_FEATURES = 0x07
    NO_MATCH = 0x08
    NOT_FOUND = 0x09
    COMBINE_FAILED = 0x0A
    BAD_PAGE = 0x0B
    TEMPLATE_INVALID = 0x0C
    UPLOAD_FAILED = 0x0D
    CANNOT_RECEIVE = 0x0E
    IMAGE_UPLOAD_FAILED = 0x0F
    DELETE_FAILED = 0x10
    CLEAR_FAILED = 0x11
    WRONG_PASSWORD = 0x13
    NO_VALID_IMAGE = 0x15
    FLASH_ERROR = 0x18
    BAD_REGISTER = 0x1A
    LIBRARY_FULL = 0x1F
    BAD_ADDRESS = 0x20
    PASSWORD_REQUIRED = 0x21
    TEMPLATE_EMPTY = 0x22
    LIBRARY_EMPTY = 0x24
    TIMEOUT = 0x26
    ALREADY_EXISTS = 0x27
    SENSOR_ERROR = 0x29
    UNSUPPORTED = 0xFC
    HARDWARE_ERROR = 0xFD
    EXECUTION_FAILED = 0xFE

    @property
    def message_en(self) -> str:
        return _MESSAGES[self][1]

    @property
    def message_zh(self) -> str:
        return _MESSAGES[self][0]

    @property
    def message(self) -> str:
        """Both languages, Chinese first, as a kiosk shows them."""
        zh, en = _MESSAGES[self]
        return f"{zh} / {en}"


# (Chinese prompt, English text). Written for a member standing at the kiosk
# or the secretary helping them: say what happened and what to do next.
_MESSAGES: dict[ConfirmationCode, tuple[str, str]] = {
    ConfirmationCode.OK: ("成功", "Done"),
    ConfirmationCode.PACKET_ERROR: (
        "指纹仪通讯出错，请稍候再试",
        "Reader communication error; please wait a moment and try again",
    ),
    ConfirmationCode.NO_FINGER: ("请把手指平放在指纹仪上", "Please place your finger flat on the reader"),
    ConfirmationCode.CAPTURE_FAILED: (
        "没有按清楚，请抬起手指再按一次",
        "The print was not clear; lift your finger and press again",
    ),
    ConfirmationCode.IMAGE_MESSY: (
        "指纹太模糊，请擦干手指后再按一次",
        "The print is smudged; dry your finger and press again",
    ),
    ConfirmationCode.TOO_FEW_FEATURES: (
        "按的面积太小，请把手指按平、按稳",
        "Too little of the finger was read; press the finger flat and hold still",
    ),
    ConfirmationCode.NO_MATCH: ("两次按的不是同一个手指，请重新录入", "The two presses do not match; please start again"),
    ConfirmationCode.NOT_FOUND: (
        "没有认出这个手指，请换一个录入过的手指，或请工作人员帮助",
        "Finger not recognised; try another enrolled finger or ask staff for help",
    ),
    ConfirmationCode.COMBINE_FAILED: ("两次按的不是同一个手指，请重新录入", "The presses could not be combined; please start again"),
    ConfirmationCode.BAD_PAGE: ("指纹编号超出范围，请联系管理员", "Fingerprint slot out of range; contact the administrator"),
    ConfirmationCode.TEMPLATE_INVALID: ("这个编号没有有效指纹，请重新录入", "No valid fingerprint in this slot; enrol it again"),
    ConfirmationCode.UPLOAD_FAILED: ("指纹上传失败，请重试", "Template upload failed; try again"),
    ConfirmationCode.CANNOT_RECEIVE: ("指纹仪无法接收数据，请重试", "The reader cannot receive data; try again"),
    ConfirmationCode.IMAGE_UPLOAD_FAILED: ("图像上传失败，请重试", "Image upload failed; try again"),
    ConfirmationCode.DELETE_FAILED: ("删除指纹失败，请重试", "Deleting the fingerprint failed; try again"),
    ConfirmationCode.CLEAR_FAILED: ("清空指纹库失败，请重试", "Clearing the library failed; try again"),
    ConfirmationCode.WRONG_PASSWORD: ("指纹仪密码不对，请联系管理员", "Wrong reader password; contact the administrator"),
    ConfirmationCode.NO_VALID_IMAGE: ("没有采到指纹，请再按一次", "No image was captured; press again"),
    ConfirmationCode.FLASH_ERROR: ("指纹仪存储出错，请联系管理员", "Reader storage error; contact the administrator"),
    ConfirmationCode.BAD_REGISTER: ("指纹仪参数设置错误，请联系管理员", "Bad reader setting; contact the administrator"),
    ConfirmationCode.LIBRARY_FULL: ("指纹库已满，请联系管理员", "The fingerprint library is full; contact the administrator"),
    ConfirmationCode.BAD_ADDRESS: ("指纹仪地址不对，请联系管理员", "Wrong reader address; contact the administrator"),
    ConfirmationCode.PASSWORD_REQUIRED: ("指纹仪需要先验证密码，请联系管理员", "The reader needs its password first; contact the administrator"),
    ConfirmationCode.TEMPLATE_EMPTY: ("这个编号还没有录入指纹", "No fingerprint enrolled in this slot"),
    ConfirmationCode.LIBRARY_EMPTY: ("指纹库是空的，请先录入指纹", "The library is empty; enrol members first"),
    ConfirmationCode.TIMEOUT: ("等待超时，请再按一次", "Timed out; press again"),
    ConfirmationCode.ALREADY_EXISTS: ("这个手指已经录入过了", "This finger is already enrolled"),
    ConfirmationCode.SENSOR_ERROR: ("指纹仪传感器故障，请联系管理员", "Sensor fault; contact the administrator"),
    ConfirmationCode.UNSUPPORTED: ("指纹仪不支持这个功能", "This reader does not support that command"),
    ConfirmationCode.HARDWARE_ERROR: ("指纹仪硬件故障，请联系管理员", "Reader hardware fault; contact the administrator"),
    ConfirmationCode.EXECUTION_FAILED: ("指纹仪执行失败，请重试", "The reader could not do that; try again"),
}


def confirmation(code: int) -> ConfirmationCode | int:
    """The enum member for `code`, or the bare int for codes not in the datasheet."""
    try:
        return ConfirmationCode(code)
    except ValueError:
        return code


def describe(code: int) -> str:
    """Kiosk text for any confirmation byte, including undocumented ones."""
    known = confirmation(code)
    if isinstance(known, ConfirmationCode):
        return known.message
    return f"指纹仪返回未知代码 0x{code:02X}，请重试 / Reader returned unknown code 0x{code:02X}; try again"
