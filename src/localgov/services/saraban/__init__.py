"""e-Saraban (ระบบสารบรรณอิเล็กทรอนิกส์): official correspondence of the LAO."""
