"""The fingerprint driver's errors, all rooted in `FingerprintError`.

`str(error)` is English for logs and staff and says what to do next;
`error.prompt_zh` is the Chinese line a kiosk can show the member.
"""

from __future__ import annotations

from .codes import ConfirmationCode, confirmation


class FingerprintError(Exception):
    prompt_zh = "指纹仪出错，请稍候再试，或请工作人员帮助"

    def __init__(self, message: str, *, prompt_zh: str | None = None) -> None:
        super().__init__(message)
        if prompt_zh is not None:
            self.prompt_zh = prompt_zh

    @property
    def prompt(self) -> str:
        """Chinese and English, as the kiosk shows it."""
        return f"{self.prompt_zh} / {self}"


class ReaderUnavailable(FingerprintError):
    """No working link to the module (never opened, unplugged, reconnecting)."""

    prompt_zh = "指纹仪没有连接，请检查USB线，或请工作人员帮助签到"


class ReaderDisconnected(ReaderUnavailable):
    """The link went away during an operation."""


class ReaderTimeout(FingerprintError):
    prompt_zh = "指纹仪没有响应，请稍候再试"


class ProtocolError(FingerprintError):
    """A reply that is corrupted or not the shape the datasheet gives."""

    prompt_zh = "指纹仪通讯出错，请稍候再试"


class FingerNotPlaced(FingerprintError):
    prompt_zh = "没有检测到手指，请把手指平放在指纹仪上"


class ReaderBusy(FingerprintError):
    """The check-in scan did not stop for an enrolment or a restore in time."""

    prompt_zh = "指纹仪正忙，请稍后再试"


class ScanAborted(FingerprintError):
    """A wait for a finger was given up because the reader is being paused."""


class AlreadyEnrolled(FingerprintError):
    prompt_zh = "这个手指已经录入过了，请换一个手指"

    def __init__(self, slot: int, score: int) -> None:
        super().__init__(
            f"This finger is already enrolled in slot {slot} (score {score}); "
            "enrol a different finger or delete that slot first"
        )
        self.slot, self.score = slot, score


class ModuleError(FingerprintError):
    """The module answered with a confirmation code other than OK."""

    def __init__(self, code: int, message: str | None = None, *, command: str = "") -> None:
        known = confirmation(code)
        if isinstance(known, ConfirmationCode):
            zh, en = known.message_zh, known.message_en
        else:
            zh, en = "指纹仪返回未知错误，请重试", "The reader returned an undocumented code; try again"
        where = f" to {command}" if command else ""
        super().__init__(message or f"{en} (module answered 0x{code:02X}{where})", prompt_zh=zh)
        self.code = code


class NotRecognisedError(ModuleError):
    """Search found no enrolled template for this finger."""


class PoorImageError(ModuleError):
    """The finger was read but the image is not usable; `reason` says why."""

    REASONS = {
        ConfirmationCode.CAPTURE_FAILED: "capture_failed",
        ConfirmationCode.IMAGE_MESSY: "messy",
        ConfirmationCode.TOO_FEW_FEATURES: "few_features",
        ConfirmationCode.NO_VALID_IMAGE: "no_image",
    }

    @property
    def reason(self) -> str:
        return self.REASONS.get(self.code, "unknown")  # type: ignore[call-overload]


class FingersDiffer(ModuleError):
    """The presses of one enrolment are not the same finger."""


class SlotError(ModuleError):
    """A library slot is out of range, empty or cannot be written."""


class PasswordError(ModuleError):
    """The module is password-protected and the configured password is wrong or missing."""


class UnsupportedCommand(ModuleError):
    """This module model does not have the command (e.g. LED on an R307)."""


_BY_CODE: dict[int, type[ModuleError]] = {
    ConfirmationCode.NOT_FOUND: NotRecognisedError,
    ConfirmationCode.CAPTURE_FAILED: PoorImageError,
    ConfirmationCode.IMAGE_MESSY: PoorImageError,
    ConfirmationCode.TOO_FEW_FEATURES: PoorImageError,
    ConfirmationCode.NO_VALID_IMAGE: PoorImageError,
    ConfirmationCode.NO_MATCH: FingersDiffer,
    ConfirmationCode.COMBINE_FAILED: FingersDiffer,
    ConfirmationCode.BAD_PAGE: SlotError,
    ConfirmationCode.TEMPLATE_INVALID: SlotError,
    ConfirmationCode.DELETE_FAILED: SlotError,
    ConfirmationCode.FLASH_ERROR: SlotError,
    ConfirmationCode.TEMPLATE_EMPTY: SlotError,
    ConfirmationCode.WRONG_PASSWORD: PasswordError,
    ConfirmationCode.PASSWORD_REQUIRED: PasswordError,
    ConfirmationCode.UNSUPPORTED: UnsupportedCommand,
}


def module_error(code: int, *, command: str = "") -> ModuleError:
    """The most specific ModuleError for a confirmation code."""
    return _BY_CODE.get(code, ModuleError)(code, command=command)
