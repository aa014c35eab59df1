// [中文, English] texts of the branch pages.
export default {};
