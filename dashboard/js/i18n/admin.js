// [中文, English] texts of the admin pages.
export default {};
